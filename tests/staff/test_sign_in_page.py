"""The staff pages in a real headless Chromium: sign in, land on ``next`` (never on another
site), sign out, set a password from an e-mailed link."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest
from assistant_calls import SERVICE_TOKEN
from staff_accounts import PASSWORD, make_staff

from storefront_api.app import create_app
from storefront_api.settings import Settings
from storefront_api.staff import service

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = ROOT / "var" / "screenshots"


def _need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("AISLE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{CHROMIUM} is missing and AISLE_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(f"{CHROMIUM} is not installed")


@pytest.fixture
async def shop(aiohttp_server, shop_url, tmp_path):
    _need_chromium()
    settings = Settings.from_env(database_url=shop_url, var_dir=tmp_path,
                                 rasa_url="http://127.0.0.1:9", service_token=SERVICE_TOKEN)
    server = await aiohttp_server(create_app(settings, migrate=False))
    return server, settings


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def fill_and_sign_in(page, email: str, password: str) -> None:
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("#sign-in-button")


async def test_sign_in_page_lands_on_next_and_signs_out(shop, browser, db):
    server, _ = shop
    user = await make_staff(db, "merchant", name="Mia")
    base = str(server.make_url("")).rstrip("/")
    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    response = await page.goto(f"{base}/staff/sign-in?next=/healthz%3Ffrom%3Dsign-in")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"

    await fill_and_sign_in(page, user.email, "not the password at all")
    await page.wait_for_selector("#sign-in-error:not([hidden])")
    assert await page.inner_text("#sign-in-error") == "E-mail or password is incorrect."
    assert await page.input_value("#password") == ""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "staff-sign-in.png"))

    await fill_and_sign_in(page, user.email, PASSWORD)
    await page.wait_for_url(f"{base}/healthz?from=sign-in")
    [cookie] = [c for c in await context.cookies() if c["name"] == "aisle_staff"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert await page.evaluate("document.cookie") == ""  # the page's scripts cannot read it

    # signed in already: a safe next is followed at once
    await page.goto(f"{base}/staff/sign-in?next=/api/staff/me")
    await page.wait_for_url(f"{base}/api/staff/me")
    assert '"role":"merchant"' in await page.inner_text("body")

    # the sign-out button ends the session
    await page.goto(f"{base}/staff/sign-in")
    await page.wait_for_selector("#signed-in:not([hidden])")
    assert await page.inner_text("#signed-in-who") == f"Mia <{user.email}>"
    await page.click("#sign-out-button")
    await page.wait_for_selector("#sign-in-form:not([hidden])")
    assert await page.inner_text("#sign-in-status") == "You are signed out."
    assert (await context.request.get(f"{base}/api/staff/me")).status == 401
    assert errors == []
    await context.close()


OFFSITE = ["//evil.example/steal", "https://evil.example/", "/\\evil.example",
           "javascript:alert(1)", "/\t/evil.example", "http:evil.example"]


async def test_attack_sign_in_page_ignores_an_offsite_next(shop, browser, db):
    server, _ = shop
    user = await make_staff(db, "admin")
    base = str(server.make_url("")).rstrip("/")
    context = await browser.new_context()
    page = await context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(f"{base}/staff/sign-in?next={quote(OFFSITE[0], safe='')}")
    await fill_and_sign_in(page, user.email, PASSWORD)  # after signing in...
    await page.wait_for_selector("#signed-in:not([hidden])")
    for next_path in OFFSITE:  # ...and on opening the page signed in
        url = f"{base}/staff/sign-in?next={quote(next_path, safe='')}"
        await page.goto(url)
        await page.wait_for_selector("#signed-in:not([hidden])")
        assert page.url == url, next_path
    assert requested and all(url.startswith(base + "/") for url in requested), requested
    await context.close()


async def test_set_password_page_from_an_emailed_link(shop, browser, db):
    server, settings = shop
    user = await make_staff(db, "agent", with_password=False)
    async with db.write() as session:
        link, _ = await service.issue_password_link(session, user, settings)
    base = str(server.make_url("")).rstrip("/")
    token = link.split("token=")[1]
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{base}/staff/set-password?token={token}")
    assert page.url == f"{base}/staff/set-password"  # the token left the address bar
    await page.fill("#new-password", "a long new password")
    await page.fill("#repeat-password", "a long new passw0rd")
    await page.click("#password-button")
    assert await page.inner_text("#password-error") == "The two passwords differ."
    await page.fill("#repeat-password", "a long new password")
    await page.click("#password-button")
    await page.wait_for_selector("#password-done:not([hidden])")
    await page.click("#password-done a")
    await page.wait_for_url(f"{base}/staff/sign-in")
    await fill_and_sign_in(page, user.email, "a long new password")
    await page.wait_for_selector("#signed-in:not([hidden])")
    assert await page.inner_text("#signed-in-role") == "agent"
    # the link worked once
    await page.goto(f"{base}/staff/set-password?token={token}")
    await page.fill("#new-password", "another long password")
    await page.fill("#repeat-password", "another long password")
    await page.click("#password-button")
    await page.wait_for_selector("#password-error:not([hidden])")
    assert "unknown, already used or expired" in await page.inner_text("#password-error")
    await context.close()
