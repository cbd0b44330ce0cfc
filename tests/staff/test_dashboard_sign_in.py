"""The merchant dashboard behind the shop's staff sign-in (DASHBOARD_AUTH=staff): `streamlit
run` on a synthetic shop's events, its sign-ins checked in the real shop database, opened in
headless Chromium with and without a staff cookie."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from local_processes import free_port
from sqlalchemy import update
from staff_accounts import make_staff, start_session

from analytics.synthetic import generate
from dashboard.auth import AuthSetting, mode, sign_in_url
from storefront_api.db import utcnow
from storefront_api.staff.models import StaffSession

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOP = "http://127.0.0.1:8080"
SCREENSHOTS = ROOT / "var" / "screenshots"


def test_dashboard_auth_setting():
    assert mode({}) == "off" and mode({"AISLE_ENV": "production"}) == "staff"
    assert mode({"DASHBOARD_AUTH": " OFF "}) == "off"
    assert mode({"DASHBOARD_AUTH": "staff"}) == "staff"
    for env, name in [({"DASHBOARD_AUTH": "yes"}, "DASHBOARD_AUTH"),
                      ({"AISLE_ENV": "prod"}, "AISLE_ENV"),
                      # production never shows the figures to whoever reaches the port
                      ({"AISLE_ENV": "production", "DASHBOARD_AUTH": "off"}, "DASHBOARD_AUTH")]:
        with pytest.raises(AuthSetting, match=name) as problem:
            mode(env)
        assert "\n" not in str(problem.value)


def test_sign_in_link_comes_back_only_to_the_shops_own_origin():
    assert sign_in_url(SHOP, "http://127.0.0.1:8501/") == f"{SHOP}/staff/sign-in"
    assert sign_in_url("https://shop.example.com/", "https://shop.example.com/dashboard/") == (
        "https://shop.example.com/staff/sign-in?next=/dashboard/")
    assert sign_in_url(SHOP, None) == f"{SHOP}/staff/sign-in"


def _wait_healthy(url: str, server: subprocess.Popen, log, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"streamlit exited:\n{log.read()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError("streamlit did not become healthy")


@pytest.fixture(scope="module")
def dashboard(shop_url, tmp_path_factory):
    """The dashboard with DASHBOARD_AUTH=staff, reading sign-ins from the demo shop's
    database, without SECRET_KEY or ADMIN_TOKEN."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{CHROMIUM} is missing and AISLE_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(f"{CHROMIUM} is not installed")
    folder = tmp_path_factory.mktemp("dashboard-auth")
    today = datetime.combine(datetime.utcnow().date(), datetime.min.time())
    generate(5_000, seed=5, start=today - timedelta(days=30), days=30).write_parquet(
        folder / "events.parquet")
    port = free_port()
    env = {name: value for name, value in os.environ.items()
           if name not in ("SECRET_KEY", "ADMIN_TOKEN", "AISLE_ENV")}
    env |= {"DASHBOARD_AUTH": "staff", "DATABASE_URL": shop_url, "STOREFRONT_URL": SHOP,
            "ANALYTICS_EVENTS_URL": str(folder / "events.parquet"),
            "TRACKER_STORE_URL": f"sqlite:///{folder / 'no-tracker.db'}"}
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py",
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer"]
    with open(folder / "streamlit.log", "w+") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, server, log)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def open_dashboard(browser, url: str, token: str | None):
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    if token is not None:
        await context.add_cookies([{"name": "aisle_staff", "value": token, "url": url,
                                    "httpOnly": True, "sameSite": "Strict"}])
    page = await context.new_page()
    await page.goto(url)
    await page.wait_for_selector('[data-testid="stMain"] h1', timeout=60_000)
    return context, page


async def finished(page, timeout: float = 60) -> None:
    """The script run is over (no running indicator), twice in a row."""
    deadline, settled = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and settled < 2:
        busy = await page.locator('[data-testid="stStatusWidget"], '
                                  '[data-testid="stSpinner"]').count()
        settled = 0 if busy else settled + 1
        await page.wait_for_timeout(400)
    assert settled >= 2, "the dashboard is still running its script"


async def shows_numbers(page) -> int:
    return await page.locator('[data-testid="stMetric"], [data-testid="stVegaLiteChart"], '
                              '[data-testid="stDataFrame"]').count()


@pytest.mark.slow
async def test_dashboard_needs_a_merchant_signed_in_to_the_shop(dashboard, browser, db):
    merchant = await make_staff(db, "merchant", name="Mia")
    agent = await make_staff(db, "agent")
    merchant_token, merchant_session = await start_session(db, merchant, "cookie")
    agent_token, _ = await start_session(db, agent, "cookie")
    script_token, _ = await start_session(db, merchant, "bearer")

    for token in (None, "forged-" + "x" * 36, script_token):  # a bearer token is no cookie
        context, page = await open_dashboard(browser, dashboard, token)
        await finished(page)
        if token is None:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / "dashboard-sign-in.png"))
        link = page.get_by_test_id("stLinkButton").get_by_role("link")
        assert await link.get_attribute("href") == f"{SHOP}/staff/sign-in"
        assert await shows_numbers(page) == 0 and await page.get_by_text("Overview").count() == 0
        await context.close()

    context, page = await open_dashboard(browser, dashboard, merchant_token)
    await page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
    await finished(page)
    assert await page.locator('[data-testid="stMain"] h1').first.inner_text() == "Overview"
    assert await page.locator('[data-testid="stMetric"]').count() >= 8
    assert "Signed in as Mia (merchant)" in await page.locator(
        '[data-testid="stSidebar"]').inner_text()
    await page.screenshot(path=str(SCREENSHOTS / "dashboard-signed-in.png"))
    await context.close()

    context, page = await open_dashboard(browser, dashboard, agent_token)
    await finished(page)
    assert "The dashboard is for merchants and admins" in await page.inner_text("body")
    assert await shows_numbers(page) == 0
    await context.close()

    # revoked: shut out at the next visit
    async with db.write() as session:
        await session.execute(update(StaffSession).where(
            StaffSession.id == merchant_session).values(revoked_at=utcnow()))
    context, page = await open_dashboard(browser, dashboard, merchant_token)
    await finished(page)
    assert await page.get_by_test_id("stLinkButton").count() == 1
    assert await shows_numbers(page) == 0
    await context.close()
