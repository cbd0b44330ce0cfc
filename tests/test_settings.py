"""Settings from the environment: a bad value stops the process with one line naming the
variable (no traceback), switches take the usual spellings, empty means unset."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storefront_api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def settings_with(monkeypatch, tmp_path, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env(var_dir=tmp_path)


@pytest.mark.parametrize("name, value, message", [
    ("PORT", "eighty", "PORT must be a whole number from 1 to 65535, not 'eighty'"),
    ("PORT", "70000", "PORT must be a whole number from 1 to 65535, not '70000'"),
    ("PORT", "80.5", "PORT must be a whole number from 1 to 65535, not '80.5'"),
    ("DB_POOL_SIZE", "0", "DB_POOL_SIZE must be a whole number from 1 to 1000, not '0'"),
    ("DB_POOL_SIZE", "ten", "DB_POOL_SIZE must be a whole number from 1 to 1000, not 'ten'"),
    ("SHOP_CURRENCY", "dollars",
     "SHOP_CURRENCY must be an ISO 4217 currency code such as USD, EUR or JPY, not 'dollars'"),
    ("SHOP_CURRENCY", "ABC",
     "SHOP_CURRENCY must be an ISO 4217 currency code such as USD, EUR or JPY, not 'ABC'"),
    ("OUTBOX_POLL_SECONDS", "nan",
     "OUTBOX_POLL_SECONDS must be a number of seconds from 0 to 3600, not 'nan'"),
    ("VISITS_COMPACT_SECONDS", "0.001",
     "VISITS_COMPACT_SECONDS must be 0 (never) or a number of seconds from 10 to 86400, "
     "not '0.001'"),
    ("VISITS_COMPACT_SECONDS", "-1",
     "VISITS_COMPACT_SECONDS must be 0 (never) or a number of seconds from 10 to 86400, "
     "not '-1'"),
    ("VIEW_EVENT_FLUSH_SECONDS", "-1",
     "VIEW_EVENT_FLUSH_SECONDS must be a number of seconds from 0 to 60, not '-1'"),
    ("LOG_SQL", "maybe", "LOG_SQL must be 1/0, true/false, yes/no or on/off, not 'maybe'"),
    ("TRUST_PROXY", "2", "TRUST_PROXY must be 1/0, true/false, yes/no or on/off, not '2'"),
    ("CHECKOUT_MINUTES", "2", "CHECKOUT_MINUTES must be a whole number from 5 to 120, not '2'"),
    ("RETURN_WINDOW_DAYS", "forever",
     "RETURN_WINDOW_DAYS must be a whole number of days from 0 to 3650, not 'forever'"),
    ("RECOVERY_PROMO_PERCENT", "150",
     "RECOVERY_PROMO_PERCENT must be a whole number from 0 to 100, not '150'"),
    ("AISLE_ENV", "prod", "AISLE_ENV must be 'production' or 'demo', not 'prod'"),
    ("TAX_RATES", "DE=19",
     "TAX_RATES must be a JSON object of country code to basis points from 0 to 10000, "
     "e.g. {\"DE\": 1900, \"US\": 0}, not 'DE=19'"),
    ("TAX_RATES", '{"Germany": 1900}',
     "TAX_RATES must be a JSON object of country code to basis points from 0 to 10000, "
     "e.g. {\"DE\": 1900, \"US\": 0}, not '{\"Germany\": 1900}'"),
    ("TAX_RATES", '{"DE": 190000}',
     "TAX_RATES must be a JSON object of country code to basis points from 0 to 10000, "
     "e.g. {\"DE\": 1900, \"US\": 0}, not '{\"DE\": 190000}'"),
    ("RATE_LIMITS", "none",
     "RATE_LIMITS must be 'off' or a JSON object of limit name to rate, e.g. "
     "{\"sign-in\": \"5/minute\"}, not 'none'"),
    # JSON null is no object: it must not switch the limits off as "off" does
    ("RATE_LIMITS", "null",
     "RATE_LIMITS must be 'off' or a JSON object of limit name to rate, e.g. "
     "{\"sign-in\": \"5/minute\"}, not 'null'"),
    ("SUPPORT_WAIT_AMBER_SECONDS", "soon",
     "SUPPORT_WAIT_AMBER_SECONDS must be a whole number from 1 to 86400, not 'soon'"),
    ("SUPPORT_WAIT_AMBER_SECONDS", "600",
     "SUPPORT_WAIT_RED_SECONDS (180) must be more than SUPPORT_WAIT_AMBER_SECONDS (600)"),
])
def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch, tmp_path, name, value,
                                                     message):
    with pytest.raises(SystemExit) as stopped:
        settings_with(monkeypatch, tmp_path, **{name: value})
    assert str(stopped.value) == message


def test_every_bad_variable_is_named_once(monkeypatch, tmp_path):
    with pytest.raises(SystemExit) as stopped:
        settings_with(monkeypatch, tmp_path, PORT="x", SHOP_CURRENCY="zzz", LOG_SQL="perhaps")
    lines = str(stopped.value).splitlines()
    assert [line.split()[0] for line in lines] == ["PORT", "SHOP_CURRENCY", "LOG_SQL"]


@pytest.mark.parametrize("spelling, meaning", [
    ("1", True), ("true", True), ("True", True), ("YES", True), ("on", True), ("On", True),
    ("0", False), ("false", False), ("No", False), ("off", False), ("OFF", False),
])
def test_switches_take_the_usual_spellings(monkeypatch, tmp_path, spelling, meaning):
    settings = settings_with(monkeypatch, tmp_path, LOG_SQL=spelling, TRUST_PROXY=spelling,
                             STRIPE_TEST_MODE=spelling)
    assert (settings.log_sql, settings.trust_proxy, settings.stripe_test_mode) == (meaning,) * 3


def test_good_values_and_empty_ones(monkeypatch, tmp_path):
    settings = settings_with(monkeypatch, tmp_path, PORT="9090", DB_POOL_SIZE="25",
                             SHOP_CURRENCY="jpy", OUTBOX_POLL_SECONDS="0.5", LOG_SQL="",
                             CHECKOUT_MINUTES="")
    assert (settings.port, settings.db_pool_size, settings.currency) == (9090, 25, "JPY")
    assert settings.outbox_poll_seconds == 0.5 and settings.log_sql is False
    assert settings.checkout_minutes == 30  # empty: the default
    assert settings.storefront_url == "http://127.0.0.1:9090"


def test_structured_values(monkeypatch, tmp_path):
    settings = settings_with(monkeypatch, tmp_path, AISLE_ENV=" Demo ",
                             TAX_RATES='{"de": 700, "XK": 1800}',
                             RATE_LIMITS='{"sign-in": "5/minute"}',
                             SUPPORT_WAIT_AMBER_SECONDS="30", SUPPORT_WAIT_RED_SECONDS="90")
    assert settings.environment == "demo"
    assert settings.tax_rates["DE"] == 700 and settings.tax_rates["XK"] == 1800
    assert settings.tax_rates["FR"] == 2000  # the defaults stay for the others
    assert settings.rate_limits_enabled and settings.rate_limit_overrides == {
        "sign-in": "5/minute"}
    assert (settings.support_wait_amber_seconds, settings.support_wait_red_seconds) == (30, 90)
    off = settings_with(monkeypatch, tmp_path, RATE_LIMITS="OFF")
    assert not off.rate_limits_enabled and off.rate_limit_overrides == {}


def test_the_command_line_prints_one_line_and_no_traceback(tmp_path):
    env = {**os.environ, "PORT": "eighty", "AISLE_VAR_DIR": str(tmp_path),
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"}
    done = subprocess.run([sys.executable, "-m", "storefront_api", "migrate"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == "PORT must be a whole number from 1 to 65535, not 'eighty'"
    assert "Traceback" not in done.stderr and not (tmp_path / "shop.db").exists()
