"""Access logs without tokens or e-mail addresses: storefront_api's own (every request of a
real server goes through it) and the proxy's (deploy/nginx.conf, run by a real nginx)."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from local_processes import free_port

from storefront_api.access_log import RedactingAccessLogger

ROOT = Path(__file__).resolve().parent.parent
CART = "Zk3b9_QmF2xLr8TqWvY1nA0pHs7dGcEu"
SECRETS = (CART, "cs_test_a1B2c3D4e5F6g7H8", "ann@example.com", "ord-token-123",
           "set-pw-token-4567", "bob@example.org", "chk_9f8e7d6c5b4a39281706")

# (what was asked, what may be logged)
REQUESTS = [
    (f"/api/carts/{CART}", "/api/carts/***"),
    (f"/api/carts/{CART}/items/12", "/api/carts/***/items/12"),
    (f"/api/carts/{CART}/checkout", "/api/carts/***/checkout"),
    ("/api/checkouts/chk_9f8e7d6c5b4a39281706", "/api/checkouts/***"),
    ("/pay/cs_test_a1B2c3D4e5F6g7H8", "/pay/***"),
    ("/pay/cs_test_a1B2c3D4e5F6g7H8/authenticate", "/pay/***/authenticate"),
    ("/checkout/chk_9f8e7d6c5b4a39281706/done", "/checkout/***/done"),
    ("/checkout/chk_9f8e7d6c5b4a39281706/cancelled", "/checkout/***/cancelled"),
    ("/staff/set-password/set-pw-token-4567", "/staff/set-password/***"),
    ("/api/orders/AB-12345?email=ann@example.com", "/api/orders/AB-12345"),
    ("/api/orders/AB-12345?token=ord-token-123", "/api/orders/AB-12345"),
    ("/api/customers/bob@example.org/x", None),  # an address in the path
    ("/api/products?q=bob@example.org&page=2", "/api/products"),
    ("/staff/set-password?token=set-pw-token-4567", "/staff/set-password"),
]


# --- storefront_api ------------------------------------------------------------------------

async def test_storefront_access_log_masks_path_tokens_and_emails(caplog):
    async def anything(_request):
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    server = TestServer(app)
    await server.start_server(access_log_class=RedactingAccessLogger,
                              access_log=logging.getLogger("aisle.test.access"))
    try:
        import aiohttp
        async with aiohttp.ClientSession() as http:
            with caplog.at_level(logging.INFO, logger="aisle.test.access"):
                for path, _ in REQUESTS:
                    async with http.get(server.make_url(path)) as response:
                        assert response.status == 200
    finally:
        await server.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "aisle.test.access"]
    assert len(lines) == len(REQUESTS)
    for line in lines:
        assert not any(secret in line for secret in SECRETS), line
    logged = [re.search(r'"GET (\S+)"', line).group(1) for line in lines]
    assert logged[:9] == [expected for _, expected in REQUESTS[:9]]
    assert logged[9] == "/api/orders/AB-12345?email=***"
    assert logged[10] == "/api/orders/AB-12345?token=***"
    assert logged[11] == "/api/customers/<address>/x"
    assert logged[12] == "/api/products?q=<address>&page=2"
    assert logged[13] == "/staff/set-password?token=***"


# --- the proxy -----------------------------------------------------------------------------

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                  else None)


@pytest.fixture
def proxy(tmp_path):
    """deploy/nginx.conf served by a real nginx, its upstreams pointed at a stub on this
    machine (an address, so nothing needs Docker's DNS) and its log into tmp_path."""
    if NGINX is None:
        pytest.skip("nginx is not installed")
    import threading

    upstream = free_port()
    stub = _stub_upstream(upstream)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    port = free_port()
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    conf = re.sub(r"\blisten 80;", f"listen 127.0.0.1:{port};", conf)
    conf = re.sub(r"http://[a-z_]+:\d+", f"http://127.0.0.1:{upstream}", conf)
    conf = conf.replace("/var/log/nginx/access.log", str(tmp_path / "access.log"))
    (tmp_path / "site.conf").write_text(conf)
    (tmp_path / "logs").mkdir()
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nuser root;\n"
        f"events {{}}\nhttp {{ include {tmp_path}/site.conf; }}\n")
    proc = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                             "-g", "daemon off;"], stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"nginx did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
    yield base, tmp_path / "access.log"
    proc.terminate()
    proc.wait(timeout=10)
    stub.shutdown()


def _stub_upstream(port: int):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Ok)


def test_nginx_logs_no_token_and_no_email(proxy):
    base, log = proxy
    for path, _ in REQUESTS:
        request = urllib.request.Request(base + path, headers={
            "Referer": f"https://shop.example/checkout/{CART}/done?email=ann@example.com"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
    deadline = time.monotonic() + 5
    while len(log.read_text().splitlines()) < len(REQUESTS) + 1 and time.monotonic() < deadline:
        time.sleep(0.05)  # nginx writes each line when its request ends
    text = log.read_text()
    assert not any(secret in text for secret in SECRETS), text
    logged = [re.search(r'"GET (\S+) HTTP', line).group(1) for line in text.splitlines()][1:]
    assert logged == [expected or "/(e-mail)" for _, expected in REQUESTS]
