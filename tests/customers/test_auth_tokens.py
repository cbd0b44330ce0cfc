"""Customer tokens and password hashes, without a database."""

from __future__ import annotations

from storefront_api.auth import (check_password, check_password_sync, hash_password,
                                 sign_customer_token, verify_customer_token)

SECRET = "s3cret"


def test_token_round_trip_and_expiry():
    token = sign_customer_token(SECRET, 42, ttl=60, now=1_000)
    assert verify_customer_token(SECRET, token.token, now=1_059) == 42
    assert verify_customer_token(SECRET, token.token, now=1_060) is None
    assert token.expires_at == 1_060


def test_tampered_tokens_are_refused():
    token = sign_customer_token(SECRET, 42, now=1_000).token
    version, customer, expires, signature = token.split(".")
    for forged in (f"{version}.43.{expires}.{signature}",
                   f"{version}.{customer}.9999999999.{signature}",
                   f"v2.{customer}.{expires}.{signature}",
                   f"{version}.{customer}.{expires}.{signature[:-2]}",
                   token + ".extra", "", "....", "v1.x.y.z", "v1.é.1.ü"):
        assert verify_customer_token(SECRET, forged, now=1_001) is None
    assert verify_customer_token("other", token, now=1_001) is None


async def test_password_hashes_are_salted_and_checked():
    first, second = await hash_password("hunter22"), await hash_password("hunter22")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert await check_password("hunter22", first)
    assert not await check_password("hunter23", first)
    assert not await check_password("hunter22", None)
    assert not check_password_sync("hunter22", "garbage")
    assert not check_password_sync("hunter22", "bcrypt$1$2$3$4$5")
