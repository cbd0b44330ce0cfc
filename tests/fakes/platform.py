"""What the fake messaging platforms share: an aiohttp app on 127.0.0.1 in a thread of its
own (so synchronous end-to-end tests and asynchronous channel tests can both use it), a
record of every API call it received, and failures on demand.

Each platform's own fake (telegram.py, whatsapp.py, messenger.py, slack.py, twilio.py here)
adds its API's routes and answers in that platform's wire format, and signs the webhook
deliveries it sends the way the platform does.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web


@dataclass
class Call:
    """One API call the fake received."""
    method: str  # the API method or path, e.g. "sendMessage" or "messages"
    body: Any  # its JSON body (or form fields)
    headers: dict[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakePlatform:
    """Base of the fakes: ``start()``/``stop()`` (or ``with``), ``calls``, ``fail_next``."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.calls: list[Call] = []
        self.failures = 0  # the next N API calls answer as the platform does when it fails
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:  # pragma: no cover - each fake's own
        raise NotImplementedError

    def record(self, method: str, body: Any, headers: Any) -> bool:
        """Record a call; False when it is to fail (``fail_next``)."""
        with self._lock:
            self.calls.append(Call(method, body, dict(headers)))
            self._arrived.notify_all()
            if self.failures:
                self.failures -= 1
                return False
        return True

    def fail_next(self, count: int = 1) -> None:
        with self._lock:
            self.failures = count

    def sent(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if method is None or c.method == method]

    def wait_for(self, check: Callable[[list[Call]], Any], timeout: float = 30.0) -> Any:
        """Poll the recorded calls until ``check`` returns something truthy; return it."""
        deadline = time.monotonic() + timeout
        while not (found := self._checked(check, deadline, timeout)):
            time.sleep(0.05)
        return found

    def _checked(self, check: Callable[[list[Call]], Any], deadline: float,
                 timeout: float) -> Any:
        """``check`` of the calls so far; once ``deadline`` has passed without a find, the
        failure, with the last calls that did come."""
        found = check(self.sent())
        if not found and time.monotonic() > deadline:
            raise AssertionError(f"{type(self).__name__}: not received within {timeout}s; "
                                 f"calls: {[(c.method, c.body) for c in self.sent()][-8:]}")
        return found

    def first_after(self, since: float, match: Callable[[Call], bool],
                    timeout: float = 60.0) -> Call:
        """The first call received at or after ``since`` (time.monotonic()) that ``match``es,
        waiting for it without polling (benchmarks)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for call in self.calls:
                    if call.at >= since and match(call):
                        return call
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{type(self).__name__}: nothing matching within "
                                         f"{timeout}s")
                self._arrived.wait(left)

    async def wait_for_async(self, check: Callable[[list[Call]], Any],
                             timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while not (found := self._checked(check, deadline, timeout)):
            await asyncio.sleep(0.02)
        return found

    # --- running ------------------------------------------------------------------------

    def start(self) -> "FakePlatform":
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application()
            self.routes(app)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
            ready.set()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{type(self).__name__} did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def __enter__(self) -> "FakePlatform":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = 30.0
         ) -> tuple[int, bytes]:
    """POST a delivery to a webhook as the platform would: (status, body)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def get(url: str, timeout: float = 30.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def as_json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
