"""The whole assistant on this machine, for end-to-end tests and the chat benchmark.

Starts, each in its own process and on free ports: storefront_api on a freshly seeded
SQLite shop, the Rasa action server (.venv-bot) and a real Rasa server with the trained
model (bot/models/aisle.tar.gz) and the project's own bot/endpoints.yml and
bot/credentials.yml; the addresses and secrets reach the processes through the same
environment variables `make run` sets, and Rasa is started as `make run` starts it (on
127.0.0.1, its HTTP API behind --jwt-secret, no --cors). Whatever reads Rasa's HTTP API here
sends storefront_api's own kind of token (``rasa_headers``). Rasa's tracker store is a SQLite
file in the stack's directory.
With ``endpoints="bot/endpoints.production.yml"`` and ``rasa_replicas=2`` it is the
production topology instead (the services' addresses in ``extra_environment``):
``storefront_replicas`` storefront_api processes sharing one port (``--reuse-port``, as
replicas behind a balancer), ``database_url`` for the shop (e.g. PostgreSQL), and with
``rabbitmq_queue`` the consumer of Rasa's events (``python -m analytics consume-rasa-events``)
on a queue and exchange of the stack's own (the deployed endpoints file, copied with only
those names changed: another stack on the same RabbitMQ gets none of this one's events).
Every process can be killed (SIGKILL) and started again by name: ``kill("rasa-0")``,
``restart("rasa-0")`` (names: storefront_api-N, actions, rasa-N, rasa_events).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from local_processes import free_port

from storefront_api.chat.rasa_api import rasa_credential

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
RASA = str(ROOT / ".venv-bot" / "bin" / "rasa")
BOT_PY = str(ROOT / ".venv-bot" / "bin" / "python")
MODEL = ROOT / "bot" / "models" / "aisle.tar.gz"
ADMIN_TOKEN = "e2e-admin"
SERVICE_TOKEN = "e2e-service-token-shared-with-the-action-server"
RASA_JWT_SECRET = "e2e-rasa-jwt-secret-of-storefront-api-calls"
CHAT_JWT_SECRET = "e2e-chat-jwt-secret-of-the-web-chat-socket"


def rasa_command(port: int, model: Path | str, endpoints: str) -> list[str]:
    """``rasa run`` as scripts/run.py starts it: loopback only, the API behind the JWT of
    RASA_JWT_SECRET (from the environment: bot/rasa_server.py)."""
    return [BOT_PY, "-m", "bot.rasa_server", "--enable-api", "-i", "127.0.0.1",
            "--port", str(port), "--model", str(model),
            "--endpoints", endpoints, "--credentials", "bot/credentials.yml"]


def _wait_until_up(proc: subprocess.Popen, url: str, log: Path, timeout: float,
                   headers: Callable[[], dict] = dict) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            request = urllib.request.Request(url, headers=headers())
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            proc.kill()
            raise RuntimeError(f"{url} did not come up; last lines of {log}:\n{tail}")
        time.sleep(0.25)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def _launch(stack: ExitStack, name: str, command: list[str], env: dict,
            directory: Path) -> subprocess.Popen:
    """Start a process logging to ``directory/name.log``, stopped when the stack closes."""
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env},
                            stdout=(directory / f"{name}.log").open("ab"),
                            stderr=subprocess.STDOUT)
    stack.callback(_stop, proc)
    return proc


@dataclass
class Process:
    """How to start one of the stack's processes again, and the one running now."""

    command: list[str]
    health_url: str
    timeout: float
    proc: subprocess.Popen | None = None
    headers: Callable[[], dict] = dict


def _start(stack: ExitStack, name: str, command: list[str], health_url: str, env: dict,
           directory: Path, timeout: float) -> subprocess.Popen:
    proc = _launch(stack, name, command, env, directory)
    _wait_until_up(proc, health_url, directory / f"{name}.log", timeout)
    return proc


def http_json(method: str, url: str, body: Any = None, headers: dict | None = None,
              timeout: float = 30) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw) if raw else None
        except ValueError:
            return error.code, raw.decode(errors="replace")


@dataclass
class AssistantStack:
    directory: Path
    products: int = 300
    action_workers: int = 1
    # Rasa's endpoints and how many Rasa servers share them (the production topology: more
    # than one, with bot/endpoints.production.yml and `environment` for its services).
    endpoints: str = "bot/endpoints.yml"
    rasa_replicas: int = 1
    extra_environment: dict[str, str] = field(default_factory=dict)
    storefront_replicas: int = 1
    shop_database_url: str | None = None  # default: a SQLite file in the directory
    rabbitmq_queue: str | None = None  # with production endpoints: the consumer runs
    # which replica storefront_api calls (RASA_URL) and which one the web chat's socket
    # reaches (CHAT_SOCKET_URL)
    rasa_api_replica: int = 0
    socket_replica: int = 0
    storefront_port: int = field(default_factory=free_port)
    rasa_port: int = field(default_factory=free_port)
    actions_port: int = field(default_factory=free_port)
    _stack: ExitStack = field(default_factory=ExitStack)
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def storefront_url(self) -> str:
        return f"http://127.0.0.1:{self.storefront_port}"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def rasa_ports(self) -> list[int]:
        return [self.rasa_port, *self._more_ports]

    @property
    def rasa_urls(self) -> list[str]:
        """Every Rasa replica's address, the first being ``rasa_url``."""
        return [f"http://127.0.0.1:{port}" for port in self.rasa_ports]

    def __post_init__(self) -> None:
        self._more_ports = [free_port() for _ in range(self.rasa_replicas - 1)]

    @property
    def database_url(self) -> str:
        return self.shop_database_url or f"sqlite+aiosqlite:///{self.directory / 'shop.db'}"

    @property
    def tracker_url(self) -> str:
        return f"sqlite:///{self.directory / 'tracker.db'}"

    def environment(self) -> dict[str, str]:
        return {"DATABASE_URL": self.database_url, "AISLE_VAR_DIR": str(self.directory),
                "ADMIN_TOKEN": ADMIN_TOKEN, "STOREFRONT_URL": self.storefront_url,
                "RASA_URL": self.rasa_urls[self.rasa_api_replica],
                "CHAT_SOCKET_URL": self.rasa_urls[self.socket_replica],
                "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{self.actions_port}/webhook",
                "TRACKER_STORE_URL": self.tracker_url,
                "RASA_CALLBACK_URL": f"{self.storefront_url}/api/chat/callback",
                "SERVICE_TOKEN": SERVICE_TOKEN, "RASA_JWT_SECRET": RASA_JWT_SECRET,
                "CHAT_JWT_SECRET": CHAT_JWT_SECRET, "SANIC_HOST": "127.0.0.1",
                "CHAT_ALLOWED_ORIGINS": self.storefront_url,
                "PYTHONUNBUFFERED": "1", "RASA_TELEMETRY_ENABLED": "false",
                **self.extra_environment}

    def __enter__(self) -> "AssistantStack":
        if not MODEL.exists():
            raise RuntimeError(f"{MODEL} is missing: run `make train` first")
        self.directory.mkdir(parents=True, exist_ok=True)
        env = self.environment()
        try:
            subprocess.run([PY, "-m", "storefront_api", "seed", "--products",
                            str(self.products)], cwd=ROOT, env={**os.environ, **env},
                           check=True, capture_output=True, timeout=300)
            shared_port = ["--reuse-port"] if self.storefront_replicas > 1 else []
            for index in range(self.storefront_replicas):
                name = "storefront_api" if self.storefront_replicas == 1 \
                    else f"storefront_api-{index}"
                self._define(name, [PY, "-m", "storefront_api", "serve", "--port",
                                    str(self.storefront_port), *shared_port],
                             f"{self.storefront_url}/healthz", 60)
                self.restart(name)
            self._define("actions", [BOT_PY, "-m", "bot.action_server", "--actions",
                                     "bot.actions", "--port", str(self.actions_port)],
                         f"http://127.0.0.1:{self.actions_port}/health", 120)
            self.restart("actions")
            endpoints = self._endpoints_file()
            for index, (port, url) in enumerate(zip(self.rasa_ports, self.rasa_urls)):
                self._define(f"rasa-{index}", rasa_command(port, MODEL, endpoints),
                             f"{url}/status", 300, self.rasa_headers)
            for index in range(len(self.rasa_ports)):  # loading the model: in parallel
                self._launch_process(f"rasa-{index}")
            for index in range(len(self.rasa_ports)):
                self._wait_up(f"rasa-{index}")
            if self.rabbitmq_queue:
                self._define("rasa_events", [PY, "-m", "analytics", "consume-rasa-events",
                                             "--events", self.database_url, "--queue",
                                             self.rabbitmq_queue, "--batch", "200"], "", 0)
                self._launch_process("rasa_events")
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    # ---- its processes ----------------------------------------------------------------

    def _define(self, name: str, command: list[str], health_url: str, timeout: float,
                headers: Callable[[], dict] = dict) -> None:
        self.processes[name] = Process(command, health_url, timeout, headers=headers)

    def _launch_process(self, name: str) -> subprocess.Popen:
        process = self.processes[name]
        process.proc = _launch(self._stack, name, process.command, self.environment(),
                               self.directory)
        return process.proc

    def _wait_up(self, name: str) -> None:
        process = self.processes[name]
        if process.health_url:
            _wait_until_up(process.proc, process.health_url, self.directory / f"{name}.log",
                           process.timeout, process.headers)

    def kill(self, name: str) -> None:
        """SIGKILL, as a crash: nothing of the process gets to clean up."""
        proc = self.processes[name].proc
        proc.kill()
        proc.wait(timeout=30)

    def restart(self, name: str, wait: bool = True) -> subprocess.Popen:
        """Start the process (again), by default waiting until it answers."""
        proc = self._launch_process(name)
        if wait:
            self._wait_up(name)
        return proc

    def pid(self, name: str) -> int:
        return self.processes[name].proc.pid

    def _endpoints_file(self) -> str:
        """The endpoints Rasa runs with: the deployed file, with the stack's own queue and
        exchange when it has a consumer."""
        if not self.rabbitmq_queue:
            return self.endpoints
        text = (ROOT / self.endpoints).read_text()
        assert "    - rasa_events\n" in text, "the production endpoints name the queue"
        text = text.replace("    - rasa_events\n", f"    - {self.rabbitmq_queue}\n"
                            f"  exchange_name: {self.rabbitmq_queue}\n")
        copy = self.directory / "endpoints.yml"
        copy.write_text(text)
        return str(copy)

    # ---- talking to it ------------------------------------------------------------------

    def say(self, sender: str, text: str, replica: int = 0) -> list[dict]:
        """The bot's replies to one shopper message over Rasa's REST channel (of the
        given Rasa replica)."""
        status, replies = http_json("POST", f"{self.rasa_urls[replica]}/webhooks/rest/webhook",
                                    {"sender": sender, "message": text})
        assert status == 200, (status, replies)
        return replies or []

    def rasa_headers(self) -> dict[str, str]:
        """What storefront_api sends Rasa's HTTP API: its short-lived JWT (role admin)."""
        return rasa_credential(RASA_JWT_SECRET).headers()

    def tracker(self, sender: str, replica: int = 0) -> dict:
        status, tracker = http_json("GET", f"{self.rasa_urls[replica]}/conversations/"
                                    f"{sender}/tracker", headers=self.rasa_headers())
        assert status == 200, (status, tracker)
        return tracker

    def slot(self, sender: str, name: str) -> Any:
        return self.tracker(sender)["slots"].get(name)

    def api(self, method: str, path: str, body: Any = None, admin: bool = False
            ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if admin else {}
        return http_json(method, self.storefront_url + path, body, headers)


def texts(replies: list[dict]) -> str:
    """Everything the bot said in one turn, as one lower-cased string, for assertions."""
    return "\n".join(str(reply.get("text", "")) for reply in replies).lower()
