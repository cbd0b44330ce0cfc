"""The production files and the README stay true: docker-compose.yml is valid and runs the
migrations, and the README documents the make targets and every setting storefront_api reads.

`docker-compose config` only parses and interpolates the file; no Docker engine is needed.
Without docker-compose the compose tests skip, unless AISLE_REQUIRE_SERVICES=1 (.ci/run
installs docker-compose and sets it), which turns the missing tool into a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
README = ROOT / "README.md"
# The secrets docker-compose.yml requires (${NAME:?...}); dummy values are enough for `config`.
REQUIRED_VARS = ("ADMIN_TOKEN", "SECRET_KEY", "POSTGRES_PASSWORD", "RABBITMQ_PASSWORD")
# How storefront_api reads its environment: env.get("NAME"...), os.environ["NAME"], getenv(...)
ENV_READ = re.compile(r"""\b(?:env|environ|getenv)(?:\.get)?\s*[\[(]\s*["']([A-Z][A-Z0-9_]*)["']""")


def _docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        reason = "docker-compose is not installed (apt-get install docker-compose)"
        if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
            pytest.fail(reason + " and AISLE_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(reason)
    return path


def _compose(*args: str, env_vars: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in REQUIRED_VARS}
    env.update(env_vars if env_vars is not None else {name: "test-value" for name in REQUIRED_VARS})
    # An empty --env-file: a developer's own .env must not fill in what the test leaves out.
    with tempfile.NamedTemporaryFile(suffix=".env") as empty_env:
        command = [_docker_compose(), "-f", str(COMPOSE_FILE), "--env-file", empty_env.name,
                   *args]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=60, check=False)


def _service_command(config: str, service: str) -> str:
    """A service's command, as text, from `docker-compose config`'s normalised YAML output."""
    block = re.search(rf"^  {re.escape(service)}:\n((?:    .*\n)*)", config, re.MULTILINE)
    assert block, f"service {service} not in the resolved configuration"
    command = re.search(r"^    command:(.*\n(?:    - .*\n|      .*\n)*)", block.group(1),
                        re.MULTILINE)
    assert command, f"service {service} has no command"
    return " ".join(re.sub(r"^- ", "", line.strip()) for line in command.group(1).splitlines())


def test_compose_file_is_valid():
    result = _compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_file_requires_the_secrets():
    values = {name: "test-value" for name in REQUIRED_VARS}
    del values["ADMIN_TOKEN"]
    result = _compose("config", "-q", env_vars=values)
    assert result.returncode != 0
    assert "ADMIN_TOKEN" in result.stderr


def test_compose_has_the_production_services():
    result = _compose("config", "--services")
    assert result.returncode == 0, result.stderr
    services = set(result.stdout.split())
    assert {"postgres", "storefront_api", "proxy", "rasa", "actions", "dashboard", "redis",
            "rabbitmq"} <= services


def test_rasa_replicas_share_a_lock_store_and_keep_conversations_apart_from_shop_events():
    result = _compose("config")
    assert result.returncode == 0, result.stderr
    command = _service_command(result.stdout, "rasa")
    assert "bot/endpoints.production.yml" in command and "--enable-api" in command
    production = (ROOT / "bot" / "endpoints.production.yml").read_text()
    # Redis's lock store (the atomic one: bot/lock_store.py) and RabbitMQ's event broker;
    # tests/e2e/test_production_topology.py runs this file with two replicas.
    assert "type: bot.lock_store.AtomicRedisLockStore" in production
    assert "type: pika" in production
    # Rasa's tracker table is called `events`, like the shop's: separate databases.
    assert "@postgres:5432/rasa" in result.stdout
    assert "CREATE DATABASE rasa" in (ROOT / "deploy" / "postgres-init.sql").read_text()


def test_storefront_api_runs_migrations_before_serving():
    result = _compose("config")
    assert result.returncode == 0, result.stderr
    command = _service_command(result.stdout, "storefront_api")
    assert "storefront_api migrate" in command, command
    assert command.index("migrate") < command.index("serve"), command
    assert "postgresql+asyncpg://" in result.stdout


def _settings_read_by_storefront_api() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "storefront_api").rglob("*.py"):
        names.update(ENV_READ.findall(path.read_text()))
    return names


def test_the_settings_scan_finds_the_known_settings():
    # Guards the regular expression: if it stopped matching, the README test would pass empty.
    names = _settings_read_by_storefront_api()
    assert {"DATABASE_URL", "ADMIN_TOKEN", "SECRET_KEY", "PORT", "TAX_RATES"} <= names


def test_readme_documents_make_targets_and_every_setting():
    readme = README.read_text()
    assert "make run" in readme and "make test" in readme
    missing = sorted(name for name in _settings_read_by_storefront_api()
                     if not re.search(rf"\b{name}\b", readme))
    assert not missing, f"read by storefront_api but missing from README.md: {missing}"
