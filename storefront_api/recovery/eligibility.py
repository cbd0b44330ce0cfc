"""Which abandoned carts may get a reminder, and on which channels.

A cart is *abandoned* when it is active (not merged, not converted), holds items (saved for
later ones do not count), has no order and no payment link still open, and nobody touched it
(cart changes, checkout attempts) for ``idle``. It may be *reminded* when the shopper gave
consent, a reminder can reach them (e-mail or a chat that is still open), the last reminder is
older than the cool-down, and fewer than ``max_reminders`` rounds were sent.

Consent is the *marketing* purpose only (consent.service), the latest decision among the
subjects that identify the shopper:
1. the cart belongs to a signed-in customer: their account and their e-mail address, and
   the cart's conversation; reminders go to the account's address;
2. a guest who asked for a payment link: the e-mail typed at the latest checkout, and the
   cart's conversation; reminders go to that address;
3. a guest who never got that far: the cart's conversation (no e-mail is known then, so
   only a chat reminder is possible).
Consent to analytics (``X-Consent: granted``) or advertising is never read here.

An e-mail reminder also needs the address's own latest decision to grant marketing, and an
address is granted marketing only by its owner, through the link mailed to it
(consent/confirmation.py). A "yes" in the chat, at checkout or from a signed-in account
(nobody verified its address) is the yes of whoever typed the address: it allows a chat
reminder, and an e-mail once the address confirmed ("unconfirmed" otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..cart.models import Cart
from ..checkout.models import Checkout
from ..consent import service as consent
from ..customers.models import Customer
from ..events.models import Event
from ..orders.models import Order
from ..settings import Settings
from .models import CartReminder

# Channel names as the bot reports them (X-Channel: Rasa's input channel names) or as the
# shop page sets them. Only channels that can receive a message pushed by the shop count.
WEB_CHANNELS = frozenset({"web", "socketio", "webchat"})
MESSAGING_WINDOW_CHANNELS = frozenset({"whatsapp", "twilio", "messenger", "facebook",
                                       "instagram"})
ALWAYS_OPEN_CHANNELS = frozenset({"telegram", "slack"})
MESSAGING_WINDOW = timedelta(hours=24)  # WhatsApp and Messenger: 24 h after the last message
# Events the shop records on its own (or about its own messages): not the shopper's activity.
NOT_SHOPPER_ACTIVITY = ("cart_reminder_sent", "order_status_changed", "handoff_resolved",
                        "purchase", "refund")


@dataclass(frozen=True)
class RecoveryPolicy:
    idle: timedelta
    cooldown: timedelta
    max_reminders: int
    window: timedelta
    promo_percent: int
    web_session: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> "RecoveryPolicy":
        return cls(idle=timedelta(minutes=settings.recovery_idle_minutes),
                   cooldown=timedelta(hours=settings.recovery_cooldown_hours),
                   max_reminders=settings.recovery_max_reminders,
                   window=timedelta(days=settings.recovery_window_days),
                   promo_percent=settings.recovery_promo_percent,
                   web_session=timedelta(minutes=settings.recovery_web_session_minutes))


@dataclass
class Decision:
    cart_id: int
    reason: str  # "eligible" or why not
    email: str | None = None
    kinds: list[str] = field(default_factory=list)  # email, chat
    round: int = 1
    last_activity: datetime | None = None
    subjects: list[str] = field(default_factory=list)  # who the shopper is, for consent

    @property
    def eligible(self) -> bool:
        return self.reason == "eligible"


def chat_window_open(channel: str | None, last_shopper_activity: datetime | None,
                     now: datetime, web_session: timedelta) -> bool:
    """Whether a message pushed into this conversation now can still reach the shopper."""
    name = (channel or "").strip().lower()
    if name in ALWAYS_OPEN_CHANNELS:
        return True
    if last_shopper_activity is None:
        return False
    if name in WEB_CHANNELS:  # the socket is only there while the page is open
        return now - last_shopper_activity <= web_session
    if name in MESSAGING_WINDOW_CHANNELS:
        return now - last_shopper_activity <= MESSAGING_WINDOW
    return False  # the rest channel (synchronous), unknown channels: nothing to push into


def abandoned_carts_query(now: datetime, idle: timedelta, limit: int):
    """Candidate cart ids, oldest first; ``assess`` checks each one in full."""
    from ..cart.models import CartLine
    with_items = select(CartLine.id).where(CartLine.cart_id == Cart.id,
                                           CartLine.saved_for_later.is_(False)).exists()
    return (select(Cart.id).where(Cart.status == "active", Cart.updated_at <= now - idle,
                                  with_items)
            .order_by(Cart.updated_at, Cart.id).limit(limit))


async def _latest_checkout(session: AsyncSession, cart_id: int) -> Checkout | None:
    return (await session.execute(
        select(Checkout).where(Checkout.cart_id == cart_id)
        .order_by(Checkout.created_at.desc(), Checkout.id.desc()).limit(1))).scalar_one_or_none()


async def _contact(session: AsyncSession, cart: Cart,
                   checkout: Checkout | None) -> tuple[str | None, list[str]]:
    """(e-mail, consent subjects) by the rules in the module docstring."""
    email, customer_id = None, None
    if cart.customer_id is not None:
        customer = await session.get(Customer, cart.customer_id)
        if customer is not None:
            email, customer_id = customer.email, customer.id
    if email is None and checkout is not None:
        email = checkout.email
    return email, consent.subjects(customer_id=customer_id, email=email,
                                   conversation_id=cart.conversation_id)


async def last_shopper_activity(session: AsyncSession, conversation_id: str) -> datetime | None:
    return await session.scalar(
        select(func.max(Event.ts)).where(Event.conversation_id == conversation_id,
                                         Event.name.not_in(NOT_SHOPPER_ACTIVITY)))


async def _reminder_history(session: AsyncSession, cart_id: int) -> tuple[int, datetime | None]:
    rounds, last = (await session.execute(
        select(func.max(CartReminder.number), func.max(CartReminder.sent_at))
        .where(CartReminder.cart_id == cart_id))).one()
    return rounds or 0, last


async def _has_order(session: AsyncSession, cart_id: int) -> bool:
    return await session.scalar(select(Order.id).where(Order.cart_id == cart_id).limit(1)) \
        is not None


async def assess(session: AsyncSession, cart: Cart, policy: RecoveryPolicy,
                 now: datetime) -> Decision:
    """Whether ``cart`` gets a reminder now, on which channels, and if not, why not."""
    decision = Decision(cart.id, "eligible")
    checkout = await _latest_checkout(session, cart.id)
    decision.last_activity = max(cart.updated_at, checkout.created_at if checkout else
                                 cart.updated_at)
    rounds, last_sent = await _reminder_history(session, cart.id)
    decision.round = rounds + 1
    if cart.status != "active" or await _has_order(session, cart.id):
        decision.reason = "ordered"
    elif checkout is not None and checkout.status == "open" and checkout.expires_at > now:
        decision.reason = "paying"  # a payment link is still open: not abandoned yet
    elif now - decision.last_activity < policy.idle:
        decision.reason = "active"
    elif rounds >= policy.max_reminders:
        decision.reason = "max-reminders"
    elif last_sent is not None and now - last_sent < policy.cooldown:
        decision.reason = "cool-down"
    if not decision.eligible:
        return decision
    email, decision.subjects = await _contact(session, cart, checkout)
    if not await consent.granted(session, decision.subjects, "marketing"):
        decision.reason = "no-consent"
        return decision
    # An e-mail only to an address whose own decision grants it, i.e. confirmed by its owner
    # (consent/confirmation.py): a "yes" from the chat, or from an account nobody verified,
    # is the yes of whoever typed the address.
    address_agrees = bool(email) and await consent.granted(
        session, consent.subjects(email=email), "marketing")
    decision.email = email if address_agrees else None
    if address_agrees:
        decision.kinds.append("email")
    if cart.conversation_id:
        seen = await last_shopper_activity(session, cart.conversation_id)
        if chat_window_open(cart.channel, seen, now, policy.web_session):
            decision.kinds.append("chat")
    if not decision.kinds:
        decision.reason = "unconfirmed" if email and not address_agrees else "unreachable"
    return decision
