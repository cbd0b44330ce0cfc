"""Settings read from the environment, with defaults for the embedded mode (SQLite under var/)."""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .money import UnknownCurrency, known_currency
from .support.hours import SupportHours, parse_support_hours

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Default tax rates by country, in basis points (2000 = 20 %), added on top of shelf prices.
# Merchants change them with PUT /api/admin/tax-rates/{country} or TAX_RATES (JSON).
DEFAULT_TAX_RATES = {
    "US": 0, "CA": 500, "GB": 2000, "IE": 2300, "FR": 2000, "DE": 1900, "ES": 2100,
    "IT": 2200, "NL": 2100, "BE": 2100, "AT": 2000, "PT": 2300, "SE": 2500, "DK": 2500,
    "FI": 2550, "PL": 2300, "CH": 810, "NO": 2500, "AU": 1000, "NZ": 1500, "JP": 1000,
    "MX": 1600, "SG": 900, "KR": 1000, "LU": 1700, "CZ": 2100, "GR": 2400, "HU": 2700,
}


def _var_dir() -> Path:
    return Path(os.environ.get("AISLE_VAR_DIR", PROJECT_ROOT / "var"))


def _secret_key(var_dir: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in var/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _whole(default: int, name: str, low: int, high: int, what: str = "a whole number"):
    return Field(default, ge=low, le=high, validation_alias=name,
                 description=f"{what} from {low} to {high}")


def _seconds(default: float, name: str, high: float):
    return Field(default, ge=0, le=high, allow_inf_nan=False, validation_alias=name,
                 description=f"a number of seconds from 0 to {high:g}")


def _switch(name: str):
    return Field(False, validation_alias=name, description="1/0, true/false, yes/no or on/off")


def _currency(code: str) -> str:
    try:
        return known_currency(code)
    except UnknownCurrency:
        raise ValueError("not a currency") from None


def _json(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            raise ValueError("not JSON") from None
    return raw


def _tax_rates(rates: dict[str, int]) -> dict[str, int]:
    """The shop's rates: the defaults, with those given (country codes in any case)."""
    given = {}
    for country, rate in rates.items():
        if not re.fullmatch(r"[A-Za-z]{2}", country) or not 0 <= rate <= 10000:
            raise ValueError("not a country code and basis points")
        given[country.upper()] = rate
    return {**DEFAULT_TAX_RATES, **given}


def _rate_limits(raw: Any) -> dict[str, str] | None:
    """RATE_LIMITS: "off" is None (no limits: benchmarks only), else overrides by name."""
    if isinstance(raw, str) and raw.strip().lower() == "off":
        return None
    overrides = _json(raw)
    if not isinstance(overrides, dict):  # JSON null would otherwise mean "off" unsaid
        raise ValueError("not a JSON object")
    return overrides


def _compaction_interval(value: float) -> float:
    if 0 < value < 10:  # each run reads what was appended since the last one
        raise ValueError("0 (never) or at least 10 seconds")
    return value


def _word(raw: Any) -> Any:
    return raw.strip().lower() if isinstance(raw, str) else raw


class EnvironmentValues(BaseSettings):
    """The environment's numbers, switches and currency, parsed and checked in one place
    (pydantic-settings). A bad value stops the process with one line per variable, naming it
    (``PORT must be a whole number from 1 to 65535, not 'eighty'``); an empty variable counts
    as unset. Booleans take 1/0, true/false, yes/no, on/off (any case)."""

    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True,
                                      extra="ignore")

    port: int = _whole(8080, "PORT", 1, 65535)
    currency: Annotated[str, AfterValidator(_currency)] = Field(
        "USD", validation_alias="SHOP_CURRENCY",
        description="an ISO 4217 currency code such as USD, EUR or JPY")
    db_pool_size: int = _whole(10, "DB_POOL_SIZE", 1, 1000)
    view_event_flush_seconds: float = _seconds(0.25, "VIEW_EVENT_FLUSH_SECONDS", 60)
    outbox_poll_seconds: float = _seconds(1.0, "OUTBOX_POLL_SECONDS", 3600)
    visits_compact_seconds: Annotated[float, AfterValidator(_compaction_interval)] = Field(
        300.0, ge=0, le=86400, allow_inf_nan=False, validation_alias="VISITS_COMPACT_SECONDS",
        description="0 (never) or a number of seconds from 10 to 86400")
    order_lookups_per_minute: int = _whole(20, "ORDER_LOOKUPS_PER_MINUTE", 0, 100000)
    # a payment link holds stock this long: long enough to pay, short enough that abandoned
    # holds come back soon (docs/checkout-and-orders.md)
    checkout_minutes: int = _whole(30, "CHECKOUT_MINUTES", 5, 120)
    return_window_days: int = _whole(30, "RETURN_WINDOW_DAYS", 0, 3650,
                                     "a whole number of days")
    log_sql: bool = _switch("LOG_SQL")
    trust_proxy: bool = _switch("TRUST_PROXY")
    stripe_test_mode: bool = _switch("STRIPE_TEST_MODE")
    admin_token_break_glass: bool = _switch("ADMIN_TOKEN_BREAK_GLASS")
    chat_token_hours: int = _whole(24, "CHAT_TOKEN_HOURS", 1, 720)
    staff_session_hours: int = _whole(12, "STAFF_SESSION_HOURS", 1, 720)
    max_held_units: int = _whole(10, "MAX_HELD_UNITS", 1, 1000)
    # Abandoned-cart recovery (docs/cart-recovery.md)
    recovery_idle_minutes: int = _whole(60, "RECOVERY_IDLE_MINUTES", 1, 525600)
    recovery_cooldown_hours: int = _whole(72, "RECOVERY_COOLDOWN_HOURS", 0, 8760)
    recovery_max_reminders: int = _whole(2, "RECOVERY_MAX_REMINDERS", 0, 10)
    recovery_window_days: int = _whole(7, "RECOVERY_WINDOW_DAYS", 1, 365)
    recovery_promo_percent: int = _whole(0, "RECOVERY_PROMO_PERCENT", 0, 100)
    recovery_web_session_minutes: int = _whole(30, "RECOVERY_WEB_SESSION_MINUTES", 0, 1440)
    recovery_interval_minutes: int = _whole(0, "RECOVERY_INTERVAL_MINUTES", 0, 10080)
    # What kind of deployment: "production" turns on the fail-closed checks (production.py)
    environment: Annotated[Literal["demo", "production"], BeforeValidator(_word)] = Field(
        "demo", validation_alias="AISLE_ENV", description="'production' or 'demo'")
    tax_rates: Annotated[dict[str, int], NoDecode, BeforeValidator(_json),
                         AfterValidator(_tax_rates)] = Field(
        default_factory=lambda: dict(DEFAULT_TAX_RATES), validation_alias="TAX_RATES",
        description='a JSON object of country code to basis points from 0 to 10000, '
                    'e.g. {"DE": 1900, "US": 0}')
    rate_limits: Annotated[dict[str, str] | None, NoDecode, BeforeValidator(_rate_limits)] = Field(
        default_factory=dict, validation_alias="RATE_LIMITS",
        description="'off' or a JSON object of limit name to rate, e.g. "
                    '{"sign-in": "5/minute"}')
    # The support inbox (docs/inbox.md)
    support_wait_amber_seconds: int = _whole(60, "SUPPORT_WAIT_AMBER_SECONDS", 1, 86400)
    support_wait_red_seconds: int = _whole(180, "SUPPORT_WAIT_RED_SECONDS", 1, 86400)
    support_claim_grace_seconds: int = _whole(120, "SUPPORT_CLAIM_GRACE_SECONDS", 0, 86400)

    @model_validator(mode="after")
    def _red_after_amber(self) -> "EnvironmentValues":
        if self.support_wait_red_seconds <= self.support_wait_amber_seconds:
            raise ValueError(f"SUPPORT_WAIT_RED_SECONDS ({self.support_wait_red_seconds}) must "
                             f"be more than SUPPORT_WAIT_AMBER_SECONDS "
                             f"({self.support_wait_amber_seconds})")
        return self


def read_environment() -> EnvironmentValues:
    """The checked values, or SystemExit with one line per bad variable (no traceback)."""
    try:
        return EnvironmentValues()
    except ValidationError as exc:
        raise SystemExit("\n".join(_problem(error) for error in exc.errors())) from None


def _problem(error: dict[str, Any]) -> str:
    if not error.get("loc"):  # a rule between variables: its own sentence names them
        return str(error.get("msg", "")).removeprefix("Value error, ")
    name = str(error["loc"][0])
    field = next((f for f in EnvironmentValues.model_fields.values()
                  if f.validation_alias == name), None)
    what = field.description if field else error.get("msg", "valid")
    return f"{name} must be {what}, not {error.get('input')!r}"


def _trust_settings(env, production: bool, checked: EnvironmentValues) -> dict:
    return dict(
        environment="production" if production else "demo",
        # production: the break-glass bearer only when asked for by name
        admin_token_enabled=checked.admin_token_break_glass if production else True,
        service_token=env.get("SERVICE_TOKEN", ""),
        rasa_jwt_secret=env.get("RASA_JWT_SECRET", ""),
        chat_token_secret=env.get("CHAT_JWT_SECRET", ""),
        chat_token_hours=checked.chat_token_hours,
        redis_url=env.get("REDIS_URL", ""),
        rate_limits_enabled=checked.rate_limits is not None,
        rate_limit_overrides=dict(checked.rate_limits or {}),
        staff_session_hours=checked.staff_session_hours,
        max_held_units=checked.max_held_units,
        stripe_test_mode=checked.stripe_test_mode,
        metrics_token=env.get("METRICS_TOKEN", ""),
    )


def _support_settings(env, checked: EnvironmentValues) -> dict:
    """The support inbox: waiting-time targets, opening hours, how long a claim outlives
    its agent's browser, and where Rasa records what shoppers write (docs/inbox.md)."""
    return dict(
        tracker_store_url=env.get("TRACKER_STORE_URL", "").strip(),
        support_hours=parse_support_hours(env.get("SUPPORT_HOURS", "")),
        support_wait_amber_seconds=checked.support_wait_amber_seconds,
        support_wait_red_seconds=checked.support_wait_red_seconds,
        support_claim_grace_seconds=checked.support_claim_grace_seconds,
    )


_RECOVERY = ("recovery_idle_minutes", "recovery_cooldown_hours", "recovery_max_reminders",
             "recovery_window_days", "recovery_promo_percent", "recovery_web_session_minutes",
             "recovery_interval_minutes")


@dataclass(frozen=True)
class Settings:
    database_url: str
    var_dir: Path
    secret_key: str
    host: str = "127.0.0.1"
    port: int = 8080
    shop_name: str = "Aisle Demo Shop"
    currency: str = "USD"
    admin_token: str = ""
    payment_gateway: str = "test"
    stripe_api_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = ""
    rasa_url: str = "http://127.0.0.1:5005"
    chat_socket_url: str = "http://127.0.0.1:5005"  # Rasa's socketio channel, as browsers see it
    storefront_url: str = "http://127.0.0.1:8080"
    smtp_url: str = ""
    tax_rates: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_TAX_RATES))
    db_pool_size: int = 10
    view_event_flush_seconds: float = 0.25
    checkout_minutes: int = 30  # how long a payment link (and its stock hold) lasts
    log_sql: bool = False
    # Orders, fulfilment, outbox (issue 3)
    mail_from: str = ""  # "Shop <orders@example.com>"; empty: SHOP_NAME <orders@storefront host>
    outbox_poll_seconds: float = 1.0  # 0 disables this process's outbox sender
    # the Overview's daily visits folded this often (storefront_api/events/visits.py); 0: never
    visits_compact_seconds: float = 300.0
    order_lookups_per_minute: int = 20  # per client, GET /api/orders/{number} and tracking
    trust_proxy: bool = False  # take the client address from X-Forwarded-For (last hop)
    # Trust boundaries (docs/security.md)
    environment: str = "demo"  # AISLE_ENV: "production" turns on the fail-closed checks
    admin_token_enabled: bool = True  # ADMIN_TOKEN as a break-glass bearer (production: opt-in)
    # The action server's credential: conversation-scoped calls (handoffs, tickets for a
    # conversation, lookups counted per conversation) need it as a bearer token.
    service_token: str = ""
    rasa_jwt_secret: str = ""  # signs storefront_api's calls to Rasa's HTTP API (--jwt-secret)
    chat_token_secret: str = ""  # signs the web chat's socket tokens (Rasa's socketio jwt_key)
    chat_token_hours: int = 24  # a chat token is renewed by the page before it runs out
    redis_url: str = ""  # rate limits shared by every process; empty: counted in memory
    rate_limits_enabled: bool = True  # RATE_LIMITS=off switches them off (benchmarks only)
    rate_limit_overrides: dict[str, str] = field(default_factory=dict)  # RATE_LIMITS (JSON)
    staff_session_hours: int = 12  # a staff sign-in lasts this long without activity
    max_held_units: int = 10  # units one client may hold in open payment links at once
    stripe_test_mode: bool = False  # STRIPE_TEST_MODE=1: a staging shop on Stripe's test keys
    # GET /metrics needs it as a bearer token when set; production serves /metrics only then
    metrics_token: str = ""
    return_window_days: int = 30  # returns accepted this many days after delivery
    # Abandoned-cart recovery (storefront_api/recovery, docs/cart-recovery.md)
    recovery_idle_minutes: int = 60  # a cart untouched this long is abandoned
    recovery_cooldown_hours: int = 72  # at least this long between two reminders of a cart
    recovery_max_reminders: int = 2  # reminder rounds per cart, at most
    recovery_window_days: int = 7  # an order this soon after a reminder counts as recovered
    recovery_promo_percent: int = 0  # single-use code in the reminder; 0: no code
    recovery_web_session_minutes: int = 30  # web chat counts as open this long after activity
    recovery_interval_minutes: int = 0  # serve runs the job this often; 0: only by command
    # Support inbox (storefront_api/inbox, docs/inbox.md)
    tracker_store_url: str = ""  # Rasa's tracker store, read for what held shoppers write
    support_hours: SupportHours = SupportHours()  # empty: always open
    support_wait_amber_seconds: int = 60  # a waiting shopper turns amber in the queue...
    support_wait_red_seconds: int = 180  # ...and red
    support_claim_grace_seconds: int = 120  # claims kept this long after the browser left

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        env = os.environ
        var_dir = Path(overrides.pop("var_dir", None) or _var_dir())
        default_db = f"sqlite+aiosqlite:///{var_dir / 'shop.db'}"
        checked = read_environment()
        port = checked.port
        production = checked.environment == "production"
        values = dict(
            database_url=env.get("DATABASE_URL", default_db),
            var_dir=var_dir,
            secret_key=(env.get("SECRET_KEY", "") if production else _secret_key(var_dir)),
            host=env.get("HOST", "127.0.0.1"),
            port=port,
            shop_name=env.get("SHOP_NAME", "Aisle Demo Shop"),
            currency=checked.currency,
            admin_token=env.get("ADMIN_TOKEN", "" if production else "dev-admin-token"),
            payment_gateway=env.get("PAYMENT_GATEWAY", "stripe" if production else "test"),
            stripe_api_key=env.get("STRIPE_API_KEY", ""),
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET", ""),
            stripe_api_base=env.get("STRIPE_API_BASE", ""),
            rasa_url=env.get("RASA_URL", "http://127.0.0.1:5005"),
            chat_socket_url=(env.get("CHAT_SOCKET_URL")
                             or env.get("RASA_URL", "http://127.0.0.1:5005")),
            storefront_url=env.get("STOREFRONT_URL", f"http://127.0.0.1:{port}"),
            smtp_url=env.get("SMTP_URL", ""),
            tax_rates=checked.tax_rates,
            db_pool_size=checked.db_pool_size,
            view_event_flush_seconds=checked.view_event_flush_seconds,
            checkout_minutes=checked.checkout_minutes,
            log_sql=checked.log_sql,
            mail_from=env.get("MAIL_FROM", ""),
            outbox_poll_seconds=checked.outbox_poll_seconds,
            visits_compact_seconds=checked.visits_compact_seconds,
            order_lookups_per_minute=checked.order_lookups_per_minute,
            trust_proxy=checked.trust_proxy,
            **_trust_settings(env, production, checked),
            return_window_days=checked.return_window_days,
            **{name: getattr(checked, name) for name in _RECOVERY},
            **_support_settings(env, checked),
        )
        values.update(overrides)
        return cls(**values)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
