"""`make run`: start every Aisle process, wait until each answers, print the URLs.

Every process listens on 127.0.0.1 only: storefront_api (--host), Rasa (-i), the action
server (SANIC_HOST), the dashboard. Rasa's HTTP API needs storefront_api's JWT
(--jwt-secret), its socket the chat token storefront_api signs (CHAT_JWT_SECRET), and the
action server's calls the service credential; the demo's secrets are generated once in var/
and each process gets only those it uses.

Ctrl-C stops them all. A process that dies takes the others down with it and its last log
lines are shown, so a broken start never looks like a running shop. Logs go to var/log/.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "var" / "log"
PY = str(ROOT / ".venv" / "bin" / "python")
RASA = str(ROOT / ".venv-bot" / "bin" / "rasa")
BOT_PY = str(ROOT / ".venv-bot" / "bin" / "python")


@dataclass
class Service:
    name: str
    command: list[str]
    health_url: str
    urls: dict[str, str]
    timeout: float = 60.0
    env: dict[str, str] = field(default_factory=dict)


def local_secret(name: str) -> str:
    """A random secret generated on first use and kept in var/ (mode 600), for the demo's
    processes to share; production takes every secret from its environment."""
    path = ROOT / "var" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def demo_secrets() -> dict[str, str]:
    """Each shared secret from the environment, else generated once and kept in var/."""
    return {name: os.environ.get(name) or local_secret(name.lower())
            for name in ("SERVICE_TOKEN", "RASA_JWT_SECRET", "CHAT_JWT_SECRET")}


def services() -> list[Service]:
    port = os.environ.get("PORT", "8080")
    base = f"http://127.0.0.1:{port}"
    rasa_port = os.environ.get("RASA_PORT", "5005")
    actions_port = os.environ.get("ACTIONS_PORT", "5055")
    dashboard_port = os.environ.get("DASHBOARD_PORT", "8501")
    rasa_url = f"http://127.0.0.1:{rasa_port}"
    shared_secrets = demo_secrets()
    shared = {"STOREFRONT_URL": base, "RASA_URL": rasa_url,
              "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{actions_port}/webhook",
              "CHAT_SOCKET_URL": os.environ.get("CHAT_SOCKET_URL", rasa_url),
              "TRACKER_STORE_URL": os.environ.get("TRACKER_STORE_URL",
                                                  "sqlite:///var/rasa_tracker.db"),
              "RASA_CALLBACK_URL": os.environ.get("RASA_CALLBACK_URL",
                                                  f"{base}/api/chat/callback"),
              "RASA_TELEMETRY_ENABLED": "false"}
    storefront_env = {**shared, **{name: shared_secrets[name] for name in
                                   ("SERVICE_TOKEN", "RASA_JWT_SECRET", "CHAT_JWT_SECRET")}}
    actions_env = {**shared, "SERVICE_TOKEN": shared_secrets["SERVICE_TOKEN"],
                   "SANIC_HOST": "127.0.0.1"}  # rasa_sdk has no host flag; 0.0.0.0 otherwise
    rasa_env = {**shared, "CHAT_JWT_SECRET": shared_secrets["CHAT_JWT_SECRET"],
                # bot/rasa_server.py passes it to Rasa as --jwt-secret (off the command line)
                "RASA_JWT_SECRET": shared_secrets["RASA_JWT_SECRET"],
                # the pages that may open the chat's socket: the shop, by either name
                "CHAT_ALLOWED_ORIGINS": os.environ.get(
                    "CHAT_ALLOWED_ORIGINS", f"{base} http://localhost:{port}")}
    found = [
        Service("storefront_api", [PY, "-m", "storefront_api", "serve", "--host", "127.0.0.1",
                                   "--port", port],
                f"{base}/healthz",
                {"Shop front": f"{base}/", "Web chat": f"{base}/chat",
                 "Storefront API": f"{base}/api/products?q=hoodie",
                 "API docs": f"{base}/api/docs", "Staff sign-in": f"{base}/staff/sign-in",
                 "Health": f"{base}/healthz"},
                env=storefront_env),
        # bot.action_server is `rasa run actions` with /metrics and JSON logs added
        Service("actions", [BOT_PY, "-m", "bot.action_server", "--actions", "bot.actions",
                            "--port", actions_port],
                f"http://127.0.0.1:{actions_port}/health",
                {"Action server": f"http://127.0.0.1:{actions_port}/health"}, env=actions_env),
        # Loading the model takes a while on a small machine. No --cors: the browser reaches
        # only the socket, whose origins the channel checks (bot/credentials.yml).
        # bot.rasa_server is `rasa run` with the API behind RASA_JWT_SECRET's JWT.
        Service("rasa", [BOT_PY, "-m", "bot.rasa_server", "--enable-api", "-i", "127.0.0.1",
                         "--port", rasa_port, "--model", "bot/models/aisle.tar.gz",
                         "--endpoints", "bot/endpoints.yml",
                         "--credentials", "bot/credentials.yml"],
                f"{rasa_url}/",  # answers without the token once the model is loaded
                {"Rasa (REST, local only)": f"{rasa_url}/webhooks/rest/webhook"},
                timeout=240.0, env=rasa_env),
    ]
    if (ROOT / "dashboard" / "app.py").exists():
        found.append(Service(
            "dashboard", [str(ROOT / ".venv" / "bin" / "streamlit"), "run", "dashboard/app.py",
                          "--server.port", dashboard_port, "--server.address", "127.0.0.1",
                          "--server.headless", "true",
                          "--browser.gatherUsageStats", "false",
                          "--client.toolbarMode", "viewer"],
            f"http://127.0.0.1:{dashboard_port}/_stcore/health",
            {"Merchant dashboard": f"http://127.0.0.1:{dashboard_port}"}, env=shared))
    return found


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def main() -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    running: list[tuple[Service, subprocess.Popen, Path]] = []

    def stop_all(*_):
        for _svc, proc, _log in running:
            if proc.poll() is None:
                proc.terminate()
        for _svc, proc, _log in running:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    signal.signal(signal.SIGTERM, lambda *_: (stop_all(), sys.exit(0)))
    try:
        for svc in services():
            log = LOGS / f"{svc.name}.log"
            print(f"starting {svc.name} (log: {log.relative_to(ROOT)})", flush=True)
            proc = subprocess.Popen(svc.command, cwd=ROOT, stdout=log.open("ab"),
                                    stderr=subprocess.STDOUT, env={**os.environ, **svc.env})
            running.append((svc, proc, log))
            deadline = time.monotonic() + svc.timeout
            while not _up(svc.health_url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    print(f"\n{svc.name} did not start. Last lines of {log}:\n{_tail(log)}")
                    stop_all()
                    return 1
                time.sleep(0.3)
        print("\nAisle is running:")
        for svc, _proc, _log in running:
            for label, url in svc.urls.items():
                print(f"  {label:<20} {url}")
        print("\nStaff accounts (the API's merchant and agent routes): "
              ".venv/bin/python -m storefront_api create-user you@example.com --role admin")
        print("\nCtrl-C stops everything.", flush=True)
        while all(proc.poll() is None for _s, proc, _l in running):
            time.sleep(1)
        dead = next(s for s, p, _l in running if p.poll() is not None)
        print(f"{dead.name} stopped unexpectedly; stopping the rest. See var/log/{dead.name}.log")
        stop_all()
        return 1
    except KeyboardInterrupt:
        print("\nstopping...")
        stop_all()
        return 0


if __name__ == "__main__":
    sys.exit(main())
