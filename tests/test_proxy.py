"""The production proxy (deploy/nginx.conf), run by this machine's nginx in front of stand-ins
for storefront_api, Rasa and the dashboard: what the internet reaches and what it does not.

The configuration is the deployed file; only what Docker provides is replaced (service names
by 127.0.0.1 ports, Docker's DNS resolver, port 80). Without nginx the tests skip, unless
AISLE_REQUIRE_SERVICES=1 (.ci/run installs it).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from local_processes import free_port

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "deploy" / "nginx.conf"


def _nginx() -> str:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                     else None)
    if path is None:
        reason = "nginx is not installed (apt-get install nginx-light)"
        if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
            pytest.fail(reason + " and AISLE_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(reason)
    return path


def _stand_in(name: str) -> web.Application:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"service": name, "path": request.path_qs,
                                  "forwarded_for": request.headers.get("X-Forwarded-For")})
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


@pytest.fixture
async def proxy(tmp_path, aiohttp_server):
    async for running in _proxy(tmp_path, aiohttp_server, balancer=None):
        yield running


@pytest.fixture
async def proxy_behind_a_balancer(tmp_path, aiohttp_server):
    """The commented real-IP lines enabled, naming 127.0.0.1 as the TLS balancer."""
    async for running in _proxy(tmp_path, aiohttp_server, balancer="127.0.0.1"):
        yield running


async def _proxy(tmp_path, aiohttp_server, balancer):
    nginx = _nginx()
    backends = {name: await aiohttp_server(_stand_in(name))
                for name in ("storefront_api", "rasa", "dashboard")}
    conf = CONF.read_text()
    conf = re.sub(r"^resolver .*$", "", conf, flags=re.MULTILINE)
    for name, port in (("storefront_api", 8080), ("rasa", 5005), ("dashboard", 8501)):
        conf = conf.replace(f"http://{name}:{port}", f"http://127.0.0.1:{backends[name].port}")
    port = free_port()
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{port};")
    if balancer:
        conf = conf.replace("# set_real_ip_from 10.0.0.0/8;", f"set_real_ip_from {balancer};")
        conf = conf.replace("# real_ip_header", "real_ip_header")
        conf = conf.replace("# real_ip_recursive", "real_ip_recursive")
    logs = tmp_path / "logs"
    logs.mkdir()
    (tmp_path / "site.conf").write_text(conf)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {logs}/error.log; worker_processes 1;\n"
        "events { worker_connections 64; }\n"
        f"http {{ access_log {logs}/default.log; client_body_temp_path {tmp_path}/body; "
        f"proxy_temp_path {tmp_path}/proxy; include {tmp_path}/site.conf; }}\n")
    process = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                                "-g", "daemon off;"], stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            try:
                async with http.get(base + "/healthz"):
                    break
            except aiohttp.ClientError:
                if process.poll() is not None:
                    raise AssertionError(process.stderr.read().decode())
                await asyncio.sleep(0.05)
    yield base, logs
    process.terminate()
    process.wait(timeout=10)


async def _where(base: str, path: str, method: str = "GET", headers=None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, base + path, headers=headers) as response:
            body = await response.json() if response.content_type == "application/json" else {}
            return response.status, body


async def test_the_shop_the_socket_and_the_dashboard_are_published(proxy):
    base, _ = proxy
    for path, service in (("/", "storefront_api"), ("/chat", "storefront_api"),
                          ("/api/products?q=hoodie", "storefront_api"),
                          ("/socket.io/?EIO=4&transport=websocket", "rasa"),
                          ("/webhooks/telegram/webhook", "rasa"),
                          ("/dashboard/", "dashboard")):
        status, body = await _where(base, path, "POST" if "webhooks" in path else "GET")
        assert (status, body.get("service")) == (200, service), path


@pytest.mark.parametrize("path", ["/webhooks/rest/webhook", "/webhooks/callback/webhook",
                                  "/webhooks/unknown/webhook", "/webhooks/telegram/other"])
async def test_attack_rasa_rest_and_callback_channels_are_not_published(proxy, path):
    base, _ = proxy
    status, body = await _where(base, path, "POST")
    assert status == 404 and body.get("service") is None


@pytest.mark.parametrize("path", ["/conversations/abc/tracker", "/conversations/abc/execute",
                                  "/model", "/status"])
async def test_attack_rasa_http_api_is_not_published(proxy, path):
    """These go to storefront_api (which has no such routes): Rasa never sees them."""
    base, _ = proxy
    status, body = await _where(base, path, "PUT" if path == "/model" else "GET")
    assert body.get("service") != "rasa"


@pytest.mark.parametrize("path", ["/metrics", "/metrics?format=text"])
async def test_attack_the_shops_metrics_are_not_published(proxy, path):
    """Request counts, latencies and stock held are for the operator's scraper on the
    private network (storefront_api/observability.py), not for the internet."""
    base, _ = proxy
    status, body = await _where(base, path)
    assert status == 404 and body.get("service") is None


async def test_attack_a_forged_forwarded_for_is_replaced_by_the_real_address(proxy):
    base, _ = proxy
    _, body = await _where(base, "/api/orders/AB-12345",
                           headers={"X-Forwarded-For": "203.0.113.9"})
    assert body["forwarded_for"] == "127.0.0.1"


async def test_behind_a_balancer_the_shopper_is_the_client(proxy_behind_a_balancer):
    """With the balancer named (deploy/nginx.conf's commented lines), the address it reports
    is the one storefront_api counts, not the balancer's."""
    base, _ = proxy_behind_a_balancer
    _, body = await _where(base, "/api/products", headers={"X-Forwarded-For": "203.0.113.9"})
    assert body["forwarded_for"] == "203.0.113.9"
    _, body = await _where(base, "/api/products",
                           headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.10"})
    assert body["forwarded_for"] == "203.0.113.10"  # the balancer's own hop, not a forged one
