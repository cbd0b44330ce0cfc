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
REQUIRED_VARS = ("SECRET_KEY", "SERVICE_TOKEN", "RASA_JWT_SECRET", "CHAT_JWT_SECRET",
                 "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "SMTP_URL", "POSTGRES_PASSWORD",
                 "RABBITMQ_PASSWORD", "REDIS_PASSWORD", "DASHBOARD_DB_PASSWORD")
OPTIONAL_SECRETS = ("ADMIN_TOKEN",)
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
    env = {k: v for k, v in os.environ.items()
           if k not in REQUIRED_VARS + OPTIONAL_SECRETS}
    env.update(env_vars if env_vars is not None
               else {name: f"value-of-{name}" for name in REQUIRED_VARS + OPTIONAL_SECRETS})
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


@pytest.mark.parametrize("missing", REQUIRED_VARS)
def test_compose_file_requires_the_secrets(missing):
    values = {name: "test-value" for name in REQUIRED_VARS if name != missing}
    result = _compose("config", "-q", env_vars=values)
    assert result.returncode != 0
    assert missing in result.stderr


def _services() -> dict:
    import yaml
    result = _compose("config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def test_every_service_runs_in_production_mode_with_what_it_needs():
    services = _services()
    shop = _environment(services["storefront_api"])
    assert shop["AISLE_ENV"] == "production" and shop["PAYMENT_GATEWAY"] == "stripe"
    assert shop["TRUST_PROXY"] == "1"
    for name in ("SECRET_KEY", "SERVICE_TOKEN", "RASA_JWT_SECRET", "CHAT_JWT_SECRET",
                 "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "SMTP_URL"):
        assert shop[name] == f"value-of-{name}", name
    assert shop["REDIS_URL"] == "redis://:value-of-REDIS_PASSWORD@redis:6379/2"
    rasa = _environment(services["rasa"])
    assert rasa["RASA_JWT_SECRET"] == "value-of-RASA_JWT_SECRET"
    assert rasa["CHAT_JWT_SECRET"] == "value-of-CHAT_JWT_SECRET"
    assert "bot.rasa_server" in " ".join(services["rasa"]["command"])  # adds --jwt-secret
    assert _environment(services["actions"])["SERVICE_TOKEN"] == "value-of-SERVICE_TOKEN"
    for name in ("storefront_api", "rasa", "actions", "dashboard", "migrate"):
        assert _environment(services[name])["AISLE_ENV"] == "production", name


# The secrets each service may hold; anything else of REQUIRED_VARS + ADMIN_TOKEN is a leak.
ALLOWED_SECRETS = {
    "storefront_api": {"SECRET_KEY", "SERVICE_TOKEN", "RASA_JWT_SECRET", "CHAT_JWT_SECRET",
                       "ADMIN_TOKEN", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "SMTP_URL",
                       "POSTGRES_PASSWORD", "REDIS_PASSWORD"},
    "migrate": {"POSTGRES_PASSWORD"},
    "rasa": {"RASA_JWT_SECRET", "CHAT_JWT_SECRET", "POSTGRES_PASSWORD", "REDIS_PASSWORD",
             "RABBITMQ_PASSWORD"},
    "actions": {"SERVICE_TOKEN"},
    "rasa_events": {"POSTGRES_PASSWORD", "RABBITMQ_PASSWORD"},
    "dashboard": {"DASHBOARD_DB_PASSWORD"},  # a role that can only read
    "redis": {"REDIS_PASSWORD"},
    "rabbitmq": {"RABBITMQ_PASSWORD"},
    "postgres": {"POSTGRES_PASSWORD", "DASHBOARD_DB_PASSWORD"},
    "proxy": set(),
}


def test_services_get_only_the_secrets_they_use():
    services = _services()
    for name, allowed in ALLOWED_SECRETS.items():
        text = " ".join(f"{key}={value}" for key, value in
                        _environment(services[name]).items())
        held = {secret for secret in REQUIRED_VARS + OPTIONAL_SECRETS
                if f"value-of-{secret}" in text}
        assert held <= allowed, (name, held - allowed)
    dashboard = _environment(services["dashboard"])
    assert "SECRET_KEY" not in dashboard and "ADMIN_TOKEN" not in dashboard
    assert dashboard["DASHBOARD_AUTH"] == "staff"


def test_only_the_proxy_is_published_and_redis_has_a_password():
    services = _services()
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    redis = services["redis"]
    assert "--requirepass" in " ".join(redis["command"])
    assert _environment(redis)["REDIS_PASSWORD"] == "value-of-REDIS_PASSWORD"


def test_what_must_survive_a_recreated_container_is_on_a_volume():
    import yaml
    result = _compose("config")
    volumes = yaml.safe_load(result.stdout)["volumes"]
    assert {"pgdata", "rabbitmq", "models", "storefront-var"} <= set(volumes)
    services = yaml.safe_load(result.stdout)["services"]
    mounts = [str(volume) for volume in services["storefront_api"]["volumes"]]
    assert any("/app/var" in mount for mount in mounts), mounts


def test_the_images_run_in_production_mode():
    for dockerfile in (ROOT / "Dockerfile", ROOT / "bot" / "Dockerfile"):
        assert re.search(r"^ENV[^\n]*AISLE_ENV=production", dockerfile.read_text(),
                         re.MULTILINE), dockerfile


def test_compose_has_the_production_services():
    result = _compose("config", "--services")
    assert result.returncode == 0, result.stderr
    services = set(result.stdout.split())
    assert {"postgres", "storefront_api", "proxy", "rasa", "actions", "dashboard", "redis",
            "rabbitmq", "rasa_events"} <= services


def test_rasa_replicas_share_a_lock_store_and_keep_conversations_apart_from_shop_events():
    result = _compose("config")
    assert result.returncode == 0, result.stderr
    command = _service_command(result.stdout, "rasa")
    assert "bot/endpoints.production.yml" in command and "--enable-api" in command
    production = (ROOT / "bot" / "endpoints.production.yml").read_text()
    # Redis's lock store (the atomic one: bot/lock_store.py) and RabbitMQ's event broker;
    # tests/e2e/test_production_topology.py runs this file with two replicas.
    assert "type: bot.lock_store.AtomicRedisLockStore" in production
    assert "type: bot.event_stream.ConfirmingPikaEventBroker" in production
    # Rasa's tracker table is called `events`, like the shop's: separate databases.
    assert "@postgres:5432/rasa" in result.stdout
    assert "CREATE DATABASE rasa" in (ROOT / "deploy" / "postgres-init.sh").read_text()


def test_storefront_api_runs_migrations_before_serving():
    result = _compose("config")
    assert result.returncode == 0, result.stderr
    command = _service_command(result.stdout, "storefront_api")
    assert "storefront_api migrate" in command, command
    assert command.index("migrate") < command.index("serve"), command
    assert "postgresql+asyncpg://" in result.stdout


def _settings_read_by_storefront_api() -> set[str]:
    """What storefront_api reads from the environment: the variables of the checked model
    (storefront_api.settings.EnvironmentValues, by their aliases) and every direct read."""
    from storefront_api.settings import EnvironmentValues
    names = {str(field.validation_alias) for field in EnvironmentValues.model_fields.values()
             if field.validation_alias}
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


def test_the_dashboards_database_role_can_only_read(tmp_path):
    """deploy/postgres-reader.sql on this machine's PostgreSQL, as the container's init
    script runs it: the reader sees the tables the owner creates afterwards (the migrations)
    and can change none of them."""
    import asyncio
    import uuid

    import asyncpg
    from databases import POSTGRES_URL, _admin, services_required
    from sqlalchemy.engine import make_url

    from storefront_api.migrations import upgrade
    psql = shutil.which("psql")
    if psql is None:
        if services_required():
            pytest.fail("psql is not installed and AISLE_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip("psql is not installed")
    tag = uuid.uuid4().hex[:8]
    owner, reader, database = f"aisle_owner_{tag}", f"aisle_reader_{tag}", f"aisle_roles_{tag}"
    server = make_url(POSTGRES_URL)
    asyncio.run(_admin(f'CREATE ROLE "{owner}" LOGIN'))
    asyncio.run(_admin(f'CREATE DATABASE "{database}" OWNER "{owner}"'))
    try:
        subprocess.run([psql, "-h", server.host, "-p", str(server.port or 5432), "-U",
                        server.username or "postgres", "-d", database, "-v", "ON_ERROR_STOP=1",
                        "-v", f"reader={reader}", "-v", f"owner={owner}",
                        "-v", "password=reader's p@ss", "-f",
                        str(ROOT / "deploy" / "postgres-reader.sql")],
                       check=True, capture_output=True, text=True, timeout=60)
        upgrade(server.set(username=owner, database=database).render_as_string(
            hide_password=False))  # the shop's tables, created by their owner afterwards

        async def as_reader():
            conn = await asyncpg.connect(host=server.host, port=server.port or 5432,
                                         user=reader, database=database)
            try:
                assert await conn.fetchval("SELECT count(*) FROM events") == 0
                assert await conn.fetchval("SELECT count(*) FROM staff_sessions") == 0
                for statement in (
                        "INSERT INTO staff_users (email, name, role, created_at) "
                        "VALUES ('x@example.com', 'x', 'admin', now())",
                        "DELETE FROM events", "UPDATE staff_sessions SET revoked_at = NULL",
                        "CREATE TABLE mine (id int)"):
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await conn.execute(statement)
            finally:
                await conn.close()
        asyncio.run(as_reader())
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        asyncio.run(_admin(f'DROP ROLE IF EXISTS "{reader}"'))
        asyncio.run(_admin(f'DROP ROLE IF EXISTS "{owner}"'))
