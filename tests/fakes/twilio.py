"""A local stand-in for Twilio's Messages API (api.twilio.com) and its signed webhooks.

API: POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded To/From/Body with
HTTP basic auth (AccountSid:AuthToken), answered 201 with a Message resource as Twilio answers
(``sid``, ``status: queued``), or Twilio's error shape (``{"code", "message", "status"}``):
20003 for bad credentials, 21602 for a missing Body, 21617 for a Body over 1600 characters.

Deliveries: ``deliver(webhook, params)`` POSTs form parameters signed as Twilio signs them
(``X-Twilio-Signature``: base64 HMAC-SHA1 of the URL followed by the sorted parameters,
with the auth token); ``sms`` builds an incoming SMS's parameters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import secrets
import urllib.parse

from aiohttp import web

from fakes.platform import FakePlatform, post


class FakeTwilio(FakePlatform):
    def __init__(self, account_sid: str = "AC" + "1" * 32, auth_token: str = "twilio-token",
                 number: str = "+15550001111"):
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.number = number
        self._ids = itertools.count(1)

    @property
    def api_url(self) -> str:
        return self.url

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)

    def _error(self, status: int, code: int, message: str) -> web.Response:
        return web.json_response({"code": code, "message": message, "status": status,
                                  "more_info": f"https://www.twilio.com/docs/errors/{code}"},
                                 status=status)

    async def _create(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(
            f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != expected or \
                request.match_info["sid"] != self.account_sid:
            return self._error(401, 20003, "Authenticate")
        form = dict(await request.post())
        if not self.record("Messages", form, request.headers):
            return self._error(500, 20500, "Internal Server Error")
        if not form.get("Body"):
            return self._error(400, 21602, "Message body is required.")
        if len(form["Body"]) > 1600:
            return self._error(400, 21617, "The concatenated message body exceeds the 1600 "
                                           "character limit.")
        return web.json_response({"sid": f"SM{next(self._ids):032d}", "status": "queued",
                                  "to": form.get("To"), "from": form.get("From"),
                                  "body": form["Body"], "account_sid": self.account_sid},
                                 status=201)

    def sms(self, sender: str, body: str | None, media: int = 0) -> dict[str, str]:
        params = {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": self.account_sid,
                  "From": sender, "To": self.number, "NumMedia": str(media),
                  "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01"}
        if body is not None:
            params["Body"] = body
        if media:
            params["MediaUrl0"] = "https://api.twilio.com/media/ME1"
            params["MediaContentType0"] = "image/jpeg"
        return params

    def signature(self, url: str, params: dict[str, str], token: str | None = None) -> str:
        signed = url + "".join(f"{k}{params[k]}" for k in sorted(params))
        digest = hmac.new((token or self.auth_token).encode(), signed.encode(),
                          hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    def deliver(self, webhook: str, params: dict[str, str], signature: str | None = "",
                signed_url: str | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature or self.signature(
                signed_url or webhook, params)
        return post(webhook, urllib.parse.urlencode(params).encode(), headers)

    def messages_to(self, number: str) -> list[dict]:
        return [c.body for c in self.sent("Messages") if c.body.get("To") == number]

    @staticmethod
    def shown(body: dict) -> str:
        return body.get("Body", "")
