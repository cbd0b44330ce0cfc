"""AISLE_ENV=production fails closed: the server refuses to start, naming the setting to fix,
and what only the demo may have (the test gateway's page) does not exist."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from local_processes import free_port

from storefront_api.app import create_app
from storefront_api.production import UnsafeConfiguration, problems
from storefront_api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def production_environment(**changes: str | None) -> dict[str, str]:
    """Every setting production mode checks, each acceptable; ``changes`` break one."""
    env = {
        "AISLE_ENV": "production", "PAYMENT_GATEWAY": "stripe",
        "STRIPE_API_KEY": "sk_live_" + secrets.token_hex(16),
        "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(16),
        "SECRET_KEY": secrets.token_urlsafe(32), "SERVICE_TOKEN": secrets.token_urlsafe(32),
        "RASA_JWT_SECRET": secrets.token_urlsafe(32), "CHAT_JWT_SECRET": secrets.token_urlsafe(32),
        "SMTP_URL": "smtps://shop:mail-password@mail.example.com:465",
        "REDIS_URL": "redis://127.0.0.1:6379/6",
    }
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def settings_from(env: dict[str, str], tmp_path: Path, monkeypatch) -> Settings:
    for name in ("ADMIN_TOKEN", "ADMIN_TOKEN_BREAK_GLASS", "STRIPE_TEST_MODE", "RATE_LIMITS",
                 "ORDER_LOOKUPS_PER_MINUTE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in set(production_environment()) - set(env):
        monkeypatch.delenv(name, raising=False)
    return Settings.from_env(database_url=f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}",
                             var_dir=tmp_path)


def test_a_complete_production_configuration_passes(tmp_path, monkeypatch):
    assert problems(settings_from(production_environment(), tmp_path, monkeypatch)) == []


BROKEN = [
    ({"PAYMENT_GATEWAY": "test"}, "PAYMENT_GATEWAY"),
    ({"STRIPE_API_KEY": None}, "STRIPE_API_KEY"),
    ({"STRIPE_API_KEY": "sk_test_" + "a" * 24}, "STRIPE_API_KEY"),
    ({"STRIPE_WEBHOOK_SECRET": None}, "STRIPE_WEBHOOK_SECRET"),
    ({"SECRET_KEY": None}, "SECRET_KEY"),
    ({"SECRET_KEY": "short-but-random-Qx7"}, "SECRET_KEY"),
    ({"ADMIN_TOKEN": "dev-admin-token"}, "ADMIN_TOKEN"),
    ({"ADMIN_TOKEN": "x" * 40}, "ADMIN_TOKEN"),
    ({"ADMIN_TOKEN_BREAK_GLASS": "1"}, "ADMIN_TOKEN"),
    ({"SERVICE_TOKEN": None}, "SERVICE_TOKEN"),
    ({"RASA_JWT_SECRET": "changeme"}, "RASA_JWT_SECRET"),
    ({"CHAT_JWT_SECRET": None}, "CHAT_JWT_SECRET"),
    ({"SMTP_URL": None}, "SMTP_URL"),
    ({"SMTP_URL": "smtp://shop:mail-password@mail.example.com:25"}, "SMTP_URL"),
    ({"SMTP_URL": "smtp://shop:pw@mail.example.com:587?starttls=off"}, "SMTP_URL"),
    ({"REDIS_URL": None}, "REDIS_URL"),
    ({"RATE_LIMITS": "off"}, "RATE_LIMITS"),
    ({"RATE_LIMITS": '{"sign-in": "0/minute"}'}, "RATE_LIMITS"),
    ({"ORDER_LOOKUPS_PER_MINUTE": "0"}, "ORDER_LOOKUPS_PER_MINUTE"),
]


@pytest.mark.parametrize("changes, setting", BROKEN, ids=[s for _, s in BROKEN])
def test_each_unsafe_setting_is_named(changes, setting, tmp_path, monkeypatch):
    found = problems(settings_from(production_environment(**changes), tmp_path, monkeypatch))
    assert len(found) == 1 and found[0].startswith(setting), found


def test_the_same_secret_twice_is_refused(tmp_path, monkeypatch):
    shared = secrets.token_urlsafe(32)
    env = production_environment(SERVICE_TOKEN=shared, RASA_JWT_SECRET=shared)
    found = problems(settings_from(env, tmp_path, monkeypatch))
    assert len(found) == 1 and "must all differ" in found[0]


def test_acceptable_mail_and_staging_variants(tmp_path, monkeypatch):
    for changes in ({"SMTP_URL": "smtp://shop:pw@mail.example.com:587"},
                    {"SMTP_URL": "smtp://shop:pw@mail.example.com:25?starttls=required"},
                    {"SMTP_URL": "smtp://relay.internal:25"},  # no credentials to leak
                    {"STRIPE_API_KEY": "sk_test_" + "b" * 24, "STRIPE_TEST_MODE": "1"}):
        env = production_environment(**changes)
        assert problems(settings_from(env, tmp_path, monkeypatch)) == [], changes


def test_attack_test_gateway_in_production_refuses_to_build_the_app(tmp_path, monkeypatch):
    settings = settings_from(production_environment(PAYMENT_GATEWAY="test"), tmp_path,
                             monkeypatch)
    with pytest.raises(UnsafeConfiguration, match="PAYMENT_GATEWAY"):
        create_app(settings)


async def test_attack_the_test_payment_page_does_not_exist_in_production(
        aiohttp_client, tmp_path, monkeypatch):
    settings = settings_from(production_environment(), tmp_path, monkeypatch)
    client = await aiohttp_client(create_app(settings))
    for method, path in (("GET", "/pay/cs_test_abc"), ("POST", "/pay/cs_test_abc"),
                         ("POST", "/pay/cs_test_abc/authenticate")):
        response = await client.request(method, path)
        assert response.status in (404, 405), (method, path, response.status)
    assert (await client.get("/healthz")).status == 200  # the rest of the shop is up


def test_attack_the_server_refuses_to_start_and_names_the_setting(tmp_path):
    """`python -m storefront_api serve` exits at once, one line per setting, and never
    listens."""
    port = free_port()
    env = {key: value for key, value in os.environ.items()
           if key not in ("ADMIN_TOKEN", "STRIPE_TEST_MODE", "RATE_LIMITS")}
    env.update(production_environment(PAYMENT_GATEWAY="test", SECRET_KEY="dev"),
               DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}",
               AISLE_VAR_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "storefront_api", "serve", "--port",
                             str(port)], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    lines = [line.strip() for line in result.stderr.strip().splitlines()]
    assert lines[0] == "AISLE_ENV=production refuses to start:"
    assert [line.split(" ", 1)[0].split("=", 1)[0] for line in lines[1:]] == [
        "PAYMENT_GATEWAY", "SECRET_KEY"]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "shop.db").exists()  # refused before touching the database


def test_the_demo_is_unchanged(tmp_path, monkeypatch):
    """Without AISLE_ENV the demo runs the test gateway with a generated SECRET_KEY."""
    monkeypatch.delenv("AISLE_ENV", raising=False)
    for name in ("PAYMENT_GATEWAY", "SECRET_KEY", "ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env(var_dir=tmp_path)
    assert not settings.is_production and settings.payment_gateway == "test"
    assert len(settings.secret_key) >= 32 and settings.admin_token_enabled


def test_aisle_env_must_be_spelled_right(monkeypatch, tmp_path):
    monkeypatch.setenv("AISLE_ENV", "prod")
    with pytest.raises(SystemExit, match="AISLE_ENV must be"):
        Settings.from_env(var_dir=tmp_path)
