"""What `AISLE_ENV=production` refuses to start with (docs/security.md, "Production mode").

Each check names the one setting to fix. The demo (`make run`) skips them all: it runs the
test gateway, development tokens and e-mails written to var/outbox/, on 127.0.0.1 only.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from .settings import Settings

MIN_SECRET_LENGTH = 32
# Values seen in examples, tutorials and this project's own tests and demo.
KNOWN_DEFAULTS = frozenset({
    "dev-admin-token", "test-admin", "e2e-admin", "actions-test-admin", "admin", "secret",
    "changeme", "change-me", "change_me", "password", "token", "development", "dev",
})


class UnsafeConfiguration(SystemExit):
    """Raised instead of starting: the message lists each setting to fix, one per line."""


def _weak_secret(name: str, value: str, *, required: bool = True) -> str | None:
    if not value:
        return (f"{name} is not set: give it a random value of at least {MIN_SECRET_LENGTH} "
                "characters (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
                if required else None)
    if value.strip().lower() in KNOWN_DEFAULTS:
        return f"{name} is a well-known default value: set a random one"
    if len(value) < MIN_SECRET_LENGTH:
        return (f"{name} is {len(value)} characters long: use at least {MIN_SECRET_LENGTH} "
                "random characters")
    if len(set(value)) < 8:
        return f"{name} repeats a few characters: use a random value"
    return None


def _smtp_problem(smtp_url: str) -> str | None:
    if not smtp_url:
        return ("SMTP_URL is not set: order confirmations would only be written to "
                "var/outbox/ (set smtps://user:password@host:465 or "
                "smtp://user:password@host:587)")
    url = urlsplit(smtp_url)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        return "SMTP_URL must look like smtps://user:password@host:465 or smtp://...@host:587"
    if url.scheme == "smtp" and url.username:
        starttls = parse_qs(url.query).get("starttls", [""])[-1].lower()
        if starttls in ("off", "no", "0", "false"):
            return "SMTP_URL turns STARTTLS off while carrying credentials: remove ?starttls=off"
        if (url.port or 25) not in (587,) and starttls != "required":
            return (f"SMTP_URL sends credentials to port {url.port or 25} where TLS is "
                    "optional: use smtps:// (port 465), port 587, or add ?starttls=required")
    return None


def problems(settings: Settings) -> list[str]:
    """Every reason production mode would refuse these settings, one line each."""
    found: list[str | None] = []
    if settings.payment_gateway != "stripe":
        found.append(f"PAYMENT_GATEWAY={settings.payment_gateway} is the built-in test gateway "
                     "(its test card pays for real orders): set PAYMENT_GATEWAY=stripe")
    else:
        key = settings.stripe_api_key
        if not key:
            found.append("STRIPE_API_KEY is not set: the secret key (sk_live_...) or a "
                         "restricted key (rk_live_...) from Stripe's dashboard")
        elif key.startswith(("sk_test_", "rk_test_")) and not settings.stripe_test_mode:
            found.append("STRIPE_API_KEY is a test-mode key: test cards would pay for real "
                         "orders (use a live key, or STRIPE_TEST_MODE=1 on a staging shop)")
        if not settings.stripe_webhook_secret:
            found.append("STRIPE_WEBHOOK_SECRET is not set: the signing secret (whsec_...) of "
                         "the webhook endpoint /api/payments/webhook")
    found.append(_weak_secret("SECRET_KEY", settings.secret_key))
    found.append(_weak_secret("ADMIN_TOKEN", settings.admin_token, required=False))
    if settings.admin_token_enabled and not settings.admin_token:
        found.append("ADMIN_TOKEN_BREAK_GLASS=1 needs an ADMIN_TOKEN")
    found.append(_weak_secret("SERVICE_TOKEN", settings.service_token))
    found.append(_weak_secret("RASA_JWT_SECRET", settings.rasa_jwt_secret))
    found.append(_weak_secret("CHAT_JWT_SECRET", settings.chat_token_secret))
    # optional: without it production serves no /metrics at all
    found.append(_weak_secret("METRICS_TOKEN", settings.metrics_token, required=False))
    secrets = [s for s in (settings.secret_key, settings.admin_token, settings.service_token,
                           settings.rasa_jwt_secret, settings.chat_token_secret,
                           settings.metrics_token) if s]
    if len(secrets) != len(set(secrets)):
        found.append("SECRET_KEY, ADMIN_TOKEN, SERVICE_TOKEN, RASA_JWT_SECRET, "
                     "CHAT_JWT_SECRET and METRICS_TOKEN must all differ (one leak must not "
                     "open every door)")
    found.append(_smtp_problem(settings.smtp_url))
    if not settings.redis_url:
        found.append("REDIS_URL is not set: rate limits would be counted by each process "
                     "alone (redis://:password@redis:6379/2)")
    if not settings.rate_limits_enabled:
        found.append("RATE_LIMITS=off switches the abuse limits off: remove it")
    switched_off = sorted(name for name, rate in settings.rate_limit_overrides.items()
                          if rate.strip().split("/")[0].strip() in ("0", ""))
    if switched_off:
        found.append(f"RATE_LIMITS switches off {', '.join(switched_off)} (a rate of 0): "
                     "give each a real rate")
    if settings.order_lookups_per_minute <= 0:
        found.append("ORDER_LOOKUPS_PER_MINUTE=0 lets anyone guess order numbers and "
                     "e-mails without limit: remove it or give a rate")
    return [problem for problem in found if problem]


def refuse_unsafe(settings: Settings) -> None:
    """In production mode, raise UnsafeConfiguration naming every setting to fix."""
    if not settings.is_production:
        return
    found = problems(settings)
    if found:
        raise UnsafeConfiguration(
            "AISLE_ENV=production refuses to start:\n" + "\n".join(f"  {p}" for p in found))
