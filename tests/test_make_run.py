"""`make run` (scripts/run.py) keeps every process on 127.0.0.1, drops Rasa's open CORS,
puts Rasa's HTTP API behind storefront_api's JWT and hands each process only the secrets it
uses. Checked on the commands and environments the script builds (starting them is the
end-to-end suite's job: tests/assistant_stack.py starts Rasa the same way)."""

from __future__ import annotations

import importlib.util
import stat
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {"SERVICE_TOKEN": "service-token-of-the-demo-0123456789abcdef",
           "RASA_JWT_SECRET": "rasa-jwt-secret-of-the-demo-0123456789abcd",
           "CHAT_JWT_SECRET": "chat-jwt-secret-of-the-demo-0123456789abcd"}


def load_run_script():
    spec = importlib.util.spec_from_file_location("aisle_run_script", ROOT / "scripts" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def services(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    for name in ("CHAT_ALLOWED_ORIGINS", "CHAT_SOCKET_URL", "PORT"):
        monkeypatch.delenv(name, raising=False)
    return {service.name: service for service in load_run_script().services()}


def flag(command: list[str], *names: str) -> str | None:
    for name in names:
        if name in command:
            return command[command.index(name) + 1]
    return None


def test_attack_every_process_listens_on_loopback_only(services):
    assert {"storefront_api", "rasa", "actions"} <= set(services)
    assert flag(services["storefront_api"].command, "--host") == "127.0.0.1"
    assert flag(services["rasa"].command, "-i", "--interface") == "127.0.0.1"
    # rasa_sdk has no host flag: it reads SANIC_HOST (default 0.0.0.0)
    assert services["actions"].env["SANIC_HOST"] == "127.0.0.1"
    if "dashboard" in services:
        assert flag(services["dashboard"].command, "--server.address") == "127.0.0.1"
    for service in services.values():
        assert all(host not in " ".join(service.command) for host in ("0.0.0.0", "::")), service
        assert service.health_url.startswith("http://127.0.0.1:"), service


def test_attack_rasa_has_no_open_cors_and_its_api_needs_the_jwt(services):
    rasa = services["rasa"].command
    assert not any(part.startswith("--cors") for part in rasa), rasa
    assert "--enable-api" in rasa
    # `rasa run` through bot/rasa_server.py, which adds --jwt-secret from RASA_JWT_SECRET
    # inside the process: no secret on the command line, where `ps` shows it
    assert rasa[1:3] == ["-m", "bot.rasa_server"]
    assert services["rasa"].env["RASA_JWT_SECRET"] == SECRETS["RASA_JWT_SECRET"]
    assert not any(SECRETS["RASA_JWT_SECRET"] in part for part in rasa)
    assert "--jwt-secret" not in rasa
    assert "--auth-token" not in rasa  # a ?token= in URLs, compared with ==
    # the health check is Rasa's root, which answers without the token
    assert services["rasa"].health_url.endswith(":5005/")


def test_each_process_gets_only_the_secrets_it_uses(services):
    def secrets_of(name: str) -> set[str]:
        return {key for key in SECRETS if key in services[name].env}

    assert secrets_of("storefront_api") == set(SECRETS)
    assert secrets_of("actions") == {"SERVICE_TOKEN"}
    assert secrets_of("rasa") == {"CHAT_JWT_SECRET", "RASA_JWT_SECRET"}
    if "dashboard" in services:
        assert secrets_of("dashboard") == set()
    for name in ("storefront_api", "actions"):
        assert services[name].env.get("SERVICE_TOKEN") == SECRETS["SERVICE_TOKEN"]
    assert services["storefront_api"].env["CHAT_JWT_SECRET"] == \
        services["rasa"].env["CHAT_JWT_SECRET"]
    assert services["rasa"].env["CHAT_ALLOWED_ORIGINS"].split() == [
        "http://127.0.0.1:8080", "http://localhost:8080"]


def test_demo_secrets_are_generated_once_and_kept_private(monkeypatch, tmp_path):
    run = load_run_script()
    monkeypatch.setattr(run, "ROOT", tmp_path)
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    first = run.demo_secrets()
    assert run.demo_secrets() == first
    assert len(set(first.values())) == 3 and all(len(v) >= 32 for v in first.values())
    for name in SECRETS:
        kept = tmp_path / "var" / name.lower()
        assert kept.read_text() == first[name]
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
