"""The web chat's channel (bot/channels/socketio.py) as Rasa builds it from credentials.yml:
it refuses to start without a secret or with an algorithm that signs nothing, and accepts a
connect token only if storefront_api could have signed it. The socket itself is driven in
tests/web/test_chat_page.py (a browser and raw Socket.IO clients) and against the real Rasa
in tests/e2e/test_internal_hops.py."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
import rasa.shared.utils.io
from rasa.core.run import _create_single_channel

from bot.channels.socketio import AUDIENCE, ISSUER, AisleSocketIOInput

SECRET = "chat-secret-of-the-channel-tests-0123456789"
CREDENTIALS = Path(__file__).resolve().parents[2] / "credentials.yml"
CONVERSATION = "0123456789abcdef0123456789abcdef"


def token(secret: str = SECRET, algorithm: str = "HS256", **claims) -> str:
    now = int(time.time())
    payload = {"sub": CONVERSATION, "aud": AUDIENCE, "iss": ISSUER, "iat": now,
               "exp": now + 600, **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret,
                      algorithm=algorithm)


@pytest.fixture
def channel() -> AisleSocketIOInput:
    return AisleSocketIOInput.from_credentials({"jwt_key": SECRET})


def test_rasa_loads_it_from_credentials_yml_under_the_socketio_name(monkeypatch):
    monkeypatch.setenv("CHAT_JWT_SECRET", SECRET)
    monkeypatch.setenv("CHAT_ALLOWED_ORIGINS", "https://shop.example.com, http://127.0.0.1:8080/")
    monkeypatch.setenv("RASA_CALLBACK_URL", "http://127.0.0.1:9/callback")
    credentials = rasa.shared.utils.io.read_config_file(str(CREDENTIALS))
    [name] = [key for key in credentials if "socketio" in key]
    channel = _create_single_channel(name, credentials[name])
    assert isinstance(channel, AisleSocketIOInput) and channel.name() == "socketio"
    assert channel.jwt_key == SECRET and channel.session_persistence is True
    assert channel.allowed_origins == ["https://shop.example.com", "http://127.0.0.1:8080"]


@pytest.mark.parametrize("credentials, complaint", [
    ({}, "jwt_key"), ({"jwt_key": ""}, "jwt_key"),
    ({"jwt_key": SECRET, "jwt_method": "none"}, "jwt_method"),
    ({"jwt_key": SECRET, "jwt_method": "RS256"}, "jwt_method"),
])
def test_attack_it_refuses_to_start_without_a_real_signature_check(credentials, complaint):
    with pytest.raises(ValueError, match=complaint):
        AisleSocketIOInput.from_credentials(credentials)


def test_a_token_storefront_api_signed_names_the_conversation(channel):
    conversation, expires, client = channel.conversation_of({"token": token()})
    assert conversation == CONVERSATION and expires > time.time() and client is None


def test_the_tokens_client_is_kept_only_in_the_shops_own_form(channel):
    client = "c_" + "0a" * 16
    assert channel.conversation_of({"token": token(cli=client)})[2] == client
    for odd in ("203.0.113.9", "c_short", "c_" + "Z" * 32, 42):
        assert channel.conversation_of({"token": token(cli=odd)})[2] is None


@pytest.mark.parametrize("auth", [
    None, "a string", {}, {"token": None}, {"token": ""}, {"token": "x" * 5000},
    {"token": token(secret="another-secret-0123456789abcdef-xyz")},
    {"token": token(exp=int(time.time()) - 5)}, {"token": token(aud="rasa")},
    {"token": token(aud=None)}, {"token": token(iss="elsewhere")}, {"token": token(exp=None)},
    {"token": token(sub=None)}, {"token": token(sub="../other room")},
    {"token": token(sub="short")},
    {"token": token(secret=None, algorithm="none")},
], ids=["none", "string", "empty", "null", "blank", "huge", "forged", "expired", "audience",
        "no audience", "issuer", "no expiry", "no subject", "odd subject", "short subject",
        "unsigned"])
def test_attack_anything_else_names_no_conversation(channel, auth):
    assert channel.conversation_of(auth) is None


def test_origins_given_or_the_same_origin_default():
    assert AisleSocketIOInput.from_credentials(
        {"jwt_key": SECRET})._cors_allowed_origins() is None
    assert AisleSocketIOInput.from_credentials(
        {"jwt_key": SECRET, "allowed_origins": "https://a.example https://b.example"}
    )._cors_allowed_origins() == ["https://a.example", "https://b.example"]
