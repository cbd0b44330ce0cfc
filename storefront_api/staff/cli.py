"""The staff commands of ``python -m storefront_api``: create-user, and staff list / disable /
revoke-sessions / password-link.

They work on the database directly (DATABASE_URL), as an operator with shell access to the
server may: that is how the first admin is made. A mistake is one line on stderr and exit
status 2; nothing is written then.
"""

from __future__ import annotations

import asyncio
import getpass
import sys

from ..db import Database
from ..problems import Problem
from ..settings import Settings
from . import passwords, service, sessions
from .models import StaffSession


class CommandError(Exception):
    """A one-line reason the command did nothing."""


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _read_password(args) -> str:
    """From stdin (--password-stdin: one line), else asked twice on the terminal."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("The same again: ") != password:
            raise CommandError("the two passwords differ")
    else:
        raise CommandError("no terminal to ask for the password: use --password-stdin "
                           "(the password on stdin) or --link (an e-mailed set-password link)")
    if (problem := passwords.weakness(password)) is not None:
        raise CommandError(problem)
    return password


def _run(settings: Settings, work) -> int:
    """Run ``work(db)`` with the schema up to date; a Problem or CommandError is one line."""
    from ..migrations import upgrade
    upgrade(settings.database_url)

    async def run():
        db = Database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except Problem as problem:
        return _fail(problem.body_dict["detail"])
    except CommandError as exc:
        return _fail(str(exc))


def create_user_command(settings: Settings, args) -> int:
    try:  # everything that can be checked before touching the database or asking anything
        email, role = service.checked_email(args.email), service.checked_role(args.role)
        password = None if args.link else _read_password(args)
    except Problem as problem:
        return _fail(problem.body_dict["detail"])
    except CommandError as exc:
        return _fail(str(exc))

    async def work(db: Database) -> int:
        password_hash = await passwords.hash_password(password) if password else None
        async with db.write() as session:
            user = await service.create_user(session, email=email, role=role,
                                             name=args.name or "", password_hash=password_hash)
            link = None
            if args.link:
                link, _expires = await service.issue_password_link(session, user, settings)
        print(f"created {role} {email} (id {user.id})")
        if link:
            print(f"set-password link (valid 24 hours, works once; also e-mailed through "
                  f"the outbox):\n{link}")
        return 0
    return _run(settings, work)


def staff_command(settings: Settings, args) -> int:
    return {"list": _list, "disable": _disable, "revoke-sessions": _revoke,
            "password-link": _password_link}[args.staff_command](settings, args)


def _list(settings: Settings, _args) -> int:
    async def work(db: Database) -> int:
        async with db.read() as session:
            users = await service.all_users(session)
            live = await sessions.count_live(session, settings)
        print(f"{'id':>4}  {'role':<8}  {'status':<12}  {'sessions':>8}  email (name)")
        for user in users:
            status = ("disabled" if user.disabled_at else
                      "active" if user.password_hash else "invited")
            name = f" ({user.name})" if user.name else ""
            print(f"{user.id:>4}  {user.role:<8}  {status:<12}  {live.get(user.id, 0):>8}  "
                  f"{user.email}{name}")
        return 0
    return _run(settings, work)


async def _user(session, email: str):
    user = await service.find_by_email(session, email)
    if user is None:
        raise CommandError(f"there is no staff user {service.checked_email(email)}")
    return user


def _disable(settings: Settings, args) -> int:
    async def work(db: Database) -> int:
        async with db.write() as session:
            user = await _user(session, args.email)
            await service.change_user(session, user, disabled=True)
        print(f"disabled {user.email}; their sessions have ended")
        return 0
    return _run(settings, work)


def _revoke(settings: Settings, args) -> int:
    async def work(db: Database) -> int:
        async with db.write() as session:
            user = await _user(session, args.email)
            revoked = await sessions.revoke(session, StaffSession.user_id == user.id)
        print(f"ended {revoked} session(s) of {user.email}")
        return 0
    return _run(settings, work)


def _password_link(settings: Settings, args) -> int:
    async def work(db: Database) -> int:
        async with db.write() as session:
            user = await _user(session, args.email)
            if user.disabled_at is not None:
                raise CommandError(f"{user.email} is disabled")
            link, _expires = await service.issue_password_link(session, user, settings)
        print(f"set-password link for {user.email} (valid 24 hours, works once; also "
              f"e-mailed through the outbox):\n{link}")
        return 0
    return _run(settings, work)


def add_commands(sub) -> None:
    """The staff commands, on ``python -m storefront_api``'s subparsers."""
    create = sub.add_parser("create-user", help="create a staff account (admin, merchant, agent)")
    create.add_argument("email")
    create.add_argument("--role", required=True, help="admin, merchant or agent")
    create.add_argument("--name", default="", help="shown to shoppers on an agent's replies")
    how = create.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true",
                     help="read the password from stdin (one line) instead of asking")
    how.add_argument("--link", action="store_true",
                     help="no password now: e-mail (and print) a one-time set-password link")
    staff = sub.add_parser("staff", help="list staff accounts, disable one, end sessions")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True)
    staff_sub.add_parser("list", help="every staff account")
    for name, what in (("disable", "disable an account and end its sessions"),
                       ("revoke-sessions", "end every session of an account"),
                       ("password-link", "e-mail (and print) a new set-password link")):
        staff_sub.add_parser(name, help=what).add_argument("email")
