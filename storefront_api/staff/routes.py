"""Staff HTTP routes: signing in and out, one's own sessions, setting a password with a
one-time link, and the admins' management of staff accounts.

Who reaches what: sign-in and set-password are public (throttled per address and, for
sign-in, per account; refused from other sites' pages); the others need a staff session
(``auth="staff"``: any role) or the admin role. Every unsafe call made with the browser
cookie also needs the CSRF token and this shop's origin (``auth.require_staff``).
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from aiohttp import web
from pydantic import (BaseModel, ConfigDict, Field, StrictBool, StringConstraints,
                      field_validator, model_validator)

from .. import responses
from ..app_keys import DB, SETTINGS
from ..auth import ROLES, StaffMember, current_staff
from ..values import MAX_EMAIL_LENGTH, normalise_email
from ..problems import Problem, conflict
from ..ratelimit import client_address, enforce, enforce_sign_in
from ..routing import ApiRoutes, int_param, json_response
from . import passwords, service, sessions
from .models import StaffSession

log = logging.getLogger("storefront_api.staff")
routes = ApiRoutes("staff")

Role = Literal["admin", "merchant", "agent"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=service.MAX_NAME_LENGTH,
                                        pattern=r"^[^\x00-\x1f\x7f]*$")]
Email = Annotated[str, StringConstraints(min_length=1, max_length=MAX_EMAIL_LENGTH + 20)]


class SignInInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: str = Field(min_length=1, max_length=passwords.MAX_LENGTH)
    kind: Literal["cookie", "bearer"] = Field(
        "cookie", description="cookie: a browser (HttpOnly cookie + CSRF token); bearer: a "
                              "script (a token to send as Authorization: Bearer ast_...)")


class NewPasswordInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=20, max_length=100, description="from the set-password link")
    password: str = Field(max_length=passwords.MAX_LENGTH,
                          description=f"at least {passwords.MIN_LENGTH} characters")

    @field_validator("password")
    @classmethod
    def _strong_enough(cls, value: str) -> str:
        if (problem := passwords.weakness(value)) is not None:
            raise ValueError(problem)
        return value


class InviteInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    role: Role
    name: Name = Field("", description="shown to shoppers on an agent's replies")


class StaffChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    name: Name | None = None
    disabled: StrictBool | None = Field(None, description="true ends every session at once")

    @model_validator(mode="after")
    def _something(self):
        if self.role is None and self.name is None and self.disabled is None:
            raise ValueError("give role, name and/or disabled")
        return self


def _staff_document(member: StaffMember) -> dict:
    return {"id": member.id, "email": member.email, "name": member.name, "role": member.role,
            "via": member.via}


# --- signing in and out --------------------------------------------------------------------

@routes.post("/api/staff/sessions", summary="Sign in (a browser's cookie or a script's token)",
             body=SignInInput, status=201, errors=(400, 401, 403, 422, 429),
             response=responses.StaffSignedIn)
async def sign_in(request: web.Request, body: SignInInput) -> web.Response:
    """The same 401 for an unknown e-mail, a wrong password and a disabled account.
    ``kind: cookie`` sets the ``aisle_staff`` cookie and returns ``csrf_token``;
    ``kind: bearer`` returns ``token`` (``ast_...``) and sets no cookie. Throttled per
    address and per account (429 with Retry-After)."""
    sessions.check_origin(request)
    email = normalise_email(body.email)
    await enforce_sign_in(request, email)
    settings = request.app[SETTINGS]
    address = client_address(request, settings)
    try:
        user = await service.authenticate(request.app[DB], email, body.password)
    except Problem:
        log.info("staff sign-in refused from %s", address)
        raise
    async with request.app[DB].write() as session:
        if body.kind == "cookie" and (previous := sessions.presented_token(request)):
            # this browser's earlier session (any account's) ends: one cookie, one session
            await sessions.revoke(session, StaffSession.kind == "cookie",
                                  StaffSession.token_hash == sessions.token_hash(previous[1]))
        token, row = await sessions.start(session, user, body.kind, address=address,
                                          user_agent=request.headers.get("User-Agent"))
        document = {"kind": body.kind, "session": sessions.session_document(row, settings, row.id),
                    "staff": _staff_document(StaffMember(
                        id=user.id, email=user.email, name=user.name, role=user.role,
                        session_id=row.id, via="session" if body.kind == "cookie" else "bearer"))}
    log.info("staff user %s signed in (%s) from %s", user.id, body.kind, address)
    if body.kind == "bearer":
        return json_response({**document, "token": token}, status=201)
    response = json_response({**document, "csrf_token": sessions.csrf_token(
        settings.secret_key, token)}, status=201)
    sessions.set_cookie(response, token, settings)
    return response


async def _member(request: web.Request) -> StaffMember:
    member = await current_staff(request)
    assert member is not None  # the route's auth="staff" let the request through
    return member


def _signed_out(request: web.Request, member: StaffMember) -> web.Response:
    response = web.Response(status=204)
    if member.via == "session":
        sessions.clear_cookie(response, request.app[SETTINGS])
    return response


@routes.delete("/api/staff/sessions/current", summary="Sign out", status=204, auth="staff",
               errors=(403, 409))
async def sign_out(request: web.Request) -> web.Response:
    """Ends this session (the cookie is cleared too)."""
    member = await _member(request)
    if member.session_id is None:
        raise conflict("The break-glass ADMIN_TOKEN is not a session: unset it (or "
                       "ADMIN_TOKEN_BREAK_GLASS) to stop it working.", type="not-a-session")
    async with request.app[DB].write() as session:
        await sessions.revoke(session, StaffSession.id == member.session_id)
    return _signed_out(request, member)


@routes.get("/api/staff/me", summary="Who is signed in (and the browser's CSRF token)",
            auth="staff", errors=(401,),
            response=responses.StaffWhoAmI)
async def me(request: web.Request) -> web.Response:
    """``csrf_token`` (cookie sessions only) goes in X-CSRF-Token on every POST, PUT, PATCH
    and DELETE made with the cookie."""
    member, settings = await _member(request), request.app[SETTINGS]
    document: dict = {"staff": _staff_document(member), "session": None}
    if member.session_id is not None:
        async with request.app[DB].read() as session:
            row = await session.get(StaffSession, member.session_id)
        document["session"] = sessions.session_document(row, settings, row.id)
    if member.via == "session":
        document["csrf_token"] = sessions.csrf_token(settings.secret_key,
                                                     request.cookies[sessions.COOKIE])
    return json_response(document)


@routes.get("/api/staff/sessions", summary="My sessions that still work", auth="staff",
            errors=(401,),
            response=responses.StaffSessions)
async def my_sessions(request: web.Request) -> web.Response:
    member, settings = await _member(request), request.app[SETTINGS]
    rows = []
    if member.id is not None:
        async with request.app[DB].read() as session:
            rows = await sessions.sessions_of(session, member.id, settings)
    return json_response({"sessions": [sessions.session_document(row, settings, member.session_id)
                                       for row in rows]})


@routes.delete(r"/api/staff/sessions/{id:\d+}", summary="End one of my sessions", status=204,
               auth="staff", errors=(403, 404))
async def revoke_my_session(request: web.Request) -> web.Response:
    """Another person's session is a 404, as an unknown one is."""
    member = await _member(request)
    session_id = int_param(request, "id", "session of yours")
    async with request.app[DB].write() as session:
        revoked = await sessions.revoke(session, StaffSession.id == session_id,
                                        StaffSession.user_id == member.id)
    if not revoked:
        raise Problem(404, "Not found", f"No session of yours with id {session_id}.",
                      type="not-found")
    if session_id == member.session_id:
        return _signed_out(request, member)
    return web.Response(status=204)


@routes.post("/api/staff/password", summary="Set a password with a one-time link",
             body=NewPasswordInput, errors=(400, 403, 422, 429),
             response=responses.PasswordSet)
async def set_password(request: web.Request, body: NewPasswordInput) -> web.Response:
    """The link works once, for 24 hours. Every session of the user ends; sign in again."""
    sessions.check_origin(request)
    await enforce(request, "sign-in")
    async with request.app[DB].read() as session:  # no argon2 work for a dead link
        if not await service.password_link_is_live(session, body.token):
            raise service.invalid_link()
    password_hash = await passwords.hash_password(body.password)  # slow: before the write
    async with request.app[DB].write() as session:
        user = await service.use_password_link(session, body.token, password_hash)
        document = {"email": user.email, "role": user.role}
    log.info("staff user %s set a password with a link", user.id)
    return json_response(document)


# --- admins: the staff accounts ------------------------------------------------------------

@routes.get("/api/admin/staff", summary="Staff accounts", auth="admin", errors=(401, 403),
            response=responses.StaffUsers)
async def list_staff(request: web.Request) -> web.Response:
    """Each account with the number of its sessions that still work."""
    settings = request.app[SETTINGS]
    async with request.app[DB].read() as session:
        users = await service.all_users(session)
        live = await sessions.count_live(session, settings)
    return json_response({"staff": [service.user_document(user, live.get(user.id, 0))
                                    for user in users], "roles": list(ROLES)})


@routes.post("/api/admin/staff", summary="Invite a staff member", body=InviteInput,
             status=201, auth="admin", errors=(401, 403, 409, 422),
             response=responses.StaffUser)
async def invite_staff(request: web.Request, body: InviteInput) -> web.Response:
    """Creates the account without a password and e-mails a one-time set-password link
    (through the outbox; valid 24 hours). 409 if the e-mail already has an account."""
    settings = request.app[SETTINGS]
    async with request.app[DB].write() as session:
        user = await service.create_user(session, email=body.email, role=body.role,
                                         name=body.name)
        _link, expires_at = await service.issue_password_link(session, user, settings)
        document = {**service.user_document(user, 0),
                    "password_link_expires_at": sessions.iso(expires_at)}
    return json_response(document, status=201)


@routes.patch(r"/api/admin/staff/{id:\d+}", summary="Change a staff member's role, name or "
              "disable them", body=StaffChange, auth="admin", errors=(401, 403, 404, 409, 422),
              response=responses.StaffUser)
async def change_staff(request: web.Request, body: StaffChange) -> web.Response:
    """A role change applies at the user's next request; disabling ends their sessions at
    once. The last enabled admin cannot be disabled or demoted (409)."""
    user_id = int_param(request, "id", "staff user")
    async with request.app[DB].write() as session:
        user = await service.find_user(session, user_id, for_update=True)
        await service.change_user(session, user, role=body.role, name=body.name,
                                  disabled=body.disabled)
        document = service.user_document(user)
    return json_response(document)


@routes.delete(r"/api/admin/staff/{id:\d+}/sessions", summary="End all of a staff member's "
               "sessions", auth="admin", errors=(401, 403, 404),
               response=responses.SessionsRevoked)
async def revoke_staff_sessions(request: web.Request) -> web.Response:
    user_id = int_param(request, "id", "staff user")
    async with request.app[DB].write() as session:
        user = await service.find_user(session, user_id)
        revoked = await sessions.revoke(session, StaffSession.user_id == user.id)
    return json_response({"revoked": revoked})


@routes.post(r"/api/admin/staff/{id:\d+}/password-link", summary="E-mail a new set-password "
             "link", status=201, auth="admin", errors=(401, 403, 404, 409),
             response=responses.PasswordLinkSent)
async def send_password_link(request: web.Request) -> web.Response:
    """For a forgotten password or an invitation that ran out. The current password keeps
    working until the link is used."""
    user_id = int_param(request, "id", "staff user")
    async with request.app[DB].write() as session:
        user = await service.find_user(session, user_id)
        if user.disabled_at is not None:
            raise conflict(f"{user.email} is disabled: enable the account first.",
                           type="staff-disabled")
        _link, expires_at = await service.issue_password_link(session, user,
                                                              request.app[SETTINGS])
    return json_response({"password_link_expires_at": sessions.iso(expires_at)}, status=201)
