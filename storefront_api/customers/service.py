"""Customer accounts: sign-up, sign-in (merging the guest cart), the customer's cart.

E-mail addresses are stored stripped and lower-cased, so ``Ann@Example.com `` and
``ann@example.com`` are one account. A wrong e-mail and a wrong password get the same answer,
after the same amount of work, so sign-in does not reveal who has an account.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth import check_password, unauthorized
from ..cart import service as carts
from ..cart.models import Cart
from ..db import utcnow
from ..events.service import EventContext
from ..problems import conflict
from ..settings import Settings
from ..values import normalise_email
from .models import Customer

def wrong_credentials():
    return unauthorized("Email or password is incorrect.", "customer")


async def find_customer(session: AsyncSession, email: str) -> Customer | None:
    return (await session.execute(
        select(Customer).where(Customer.email == normalise_email(email)))).scalar_one_or_none()


async def register_customer(session: AsyncSession, *, email: str, password_hash: str, name: str,
                            marketing_consent: bool) -> Customer:
    """A new account; 409 if the e-mail is taken. ``password_hash`` from auth.hash_password."""
    email = normalise_email(email)
    if await find_customer(session, email) is not None:
        raise _email_taken()
    customer = Customer(email=email, name=name.strip(), password_hash=password_hash,
                        marketing_consent=marketing_consent, created_at=utcnow())
    session.add(customer)
    try:
        await session.flush()
    except IntegrityError:  # signed up twice at the same moment
        raise _email_taken() from None
    return customer


def _email_taken():
    return conflict("An account with this email already exists; sign in instead.",
                    type="email-taken")


async def authenticate(session: AsyncSession, email: str, password: str) -> Customer:
    """The customer whose e-mail and password these are, or the same 401 for any mismatch."""
    customer = await find_customer(session, email)
    ok = await check_password(password, customer.password_hash if customer else None)
    if customer is None or not ok:
        raise wrong_credentials()
    return customer


async def lock_customer(session: AsyncSession, customer_id: int) -> Customer:
    """The customer row, locked (PostgreSQL) so two sign-ins never create two carts."""
    customer = (await session.execute(
        select(Customer).where(Customer.id == customer_id).with_for_update()
    )).scalar_one_or_none()
    if customer is None:  # a valid token for a customer that no longer exists
        raise unauthorized("This account no longer exists.", "customer")
    return customer


async def customer_cart(session: AsyncSession, customer_id: int, settings: Settings,
                        ctx: EventContext) -> Cart:
    """The customer's active cart, created empty if there is none."""
    await lock_customer(session, customer_id)
    cart = await carts.active_customer_cart(session, customer_id)
    if cart is None:
        cart = await carts.create_cart(session, settings, ctx, customer_id=customer_id)
    return cart


@dataclass
class SignIn:
    customer: Customer
    cart: Cart
    merged: bool
    notices: list[str]


async def sign_in_cart(session: AsyncSession, customer: Customer, guest_token: str | None,
                       settings: Settings, ctx: EventContext) -> SignIn:
    """The customer's cart after merging the guest cart ``guest_token`` into it.

    A token that is unknown, already merged or another customer's cart is ignored (the
    sign-in itself succeeded); ``merged`` says whether anything was merged.
    """
    cart = await customer_cart(session, customer.id, settings, ctx)
    guest = await _mergeable_guest_cart(session, guest_token, customer.id, cart)
    notices: list[str] = []
    if guest is not None:
        notices = await carts.merge_carts(session, guest, cart, ctx.for_customer(customer.id))
    return SignIn(customer, cart, guest is not None, notices)


async def _mergeable_guest_cart(session: AsyncSession, token: str | None, customer_id: int,
                                target: Cart) -> Cart | None:
    guest = await carts.cart_by_token(session, token, for_update=True) if token else None
    if guest is None or guest.id == target.id or guest.status != "active":
        return None
    if guest.customer_id not in (None, customer_id):
        return None
    return guest
