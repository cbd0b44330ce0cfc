"""What the inbox shows: a handoff as a row of the queue, and a conversation with everything
beside it (transcript, what the shopper did, notes, cart, orders, checkout, placeholders).

The transcript comes from Rasa's tracker store when storefront_api can read it (every user
and bot turn, also those after the handoff), else from what the bot sent with the handoff
plus what Rasa's HTTP API says the shopper wrote since. The agents' replies come from the
shop's own table (with their delivery state), and the shop's events of the conversation
(searches, cart changes, payment links, orders) are shown as what the shopper did. Every
item has a ``key`` so that the live stream and a reload never show one twice.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..checkout.documents import checkout_document
from ..checkout.models import Checkout
from ..events.models import Event
from ..money import format_money
from ..settings import Settings
from ..support import handoffs
from ..support.models import Handoff, HandoffMessage, HandoffNote
from ..values import iso
from .tracker import TrackerStore, TrackerUnavailable, transcript_item

# Why a conversation came to a person, in four kinds (analytics/support.py groups the
# same way): the bot's reasons are "asked_for_human", "repeated_fallback" and
# "asked_for_human_during_<form>".
REASON_KINDS = {"asked": "Asked for a person", "misunderstanding": "Repeated misunderstanding",
                "complaint": "Complaint", "payment": "Payment trouble"}
ACTIVITY = ("view_item_list", "add_to_cart", "remove_from_cart", "begin_checkout",
            "add_payment_info", "purchase", "refund", "return_requested", "handoff_requested",
            "agent_joined", "agent_left", "handoff_resolved", "handoff_rated")
MAX_ACTIVITY = 100


def reason_kind(reason: str | None) -> str:
    reason = (reason or "").lower()
    if "fallback" in reason or "misunderst" in reason:
        return "misunderstanding"
    if "complaint" in reason:
        return "complaint"
    if "checkout" in reason or "payment" in reason:
        return "payment"
    return "asked"


def _unix(moment: datetime) -> float:
    return moment.replace(tzinfo=timezone.utc).timestamp()


# --- a row of the queue ----------------------------------------------------------------------

def awaiting_since(handoff: Handoff, shopper_times: list[float]) -> str | None:
    """Since when the shopper waits for an answer from a person: their first message after
    the agent's latest reply (or after the handoff, before any reply); None when answered."""
    replies = [m.created_at for m in handoff.messages]
    answered = _unix(max(replies)) if replies else _unix(handoff.created_at)
    waiting = [t for t in shopper_times if t > answered]
    if not waiting:
        return None
    return datetime.fromtimestamp(min(waiting), timezone.utc).replace(
        tzinfo=None).isoformat() + "Z"


async def queue_row(session: AsyncSession, handoff: Handoff, settings: Settings, *,
                    shopper_times: list[float], position: int | None = None) -> dict[str, Any]:
    cart = await handoffs.cart_of(session, handoff, settings)
    orders = await handoffs.orders_of(session, handoff)
    document = handoffs.summary_document(handoff, position)
    return document | {
        "agent_id": handoff.agent_id, "reason_kind": reason_kind(handoff.reason),
        "reason_label": REASON_KINDS[reason_kind(handoff.reason)],
        "email_verified": await handoffs.email_is_verified(session, handoff),
        "cart_value": cart["totals"]["total"] if cart and cart["item_count"] else None,
        "cart_items": cart["item_count"] if cart else 0,
        "orders": [{"number": o["number"], "status_label": o["status_label"]} for o in orders],
        "first_reply_at": iso(handoff.first_reply_at), "outcome": handoff.outcome,
        "csat": handoff.csat, "awaiting_reply_since":
            awaiting_since(handoff, shopper_times) if handoff.status != "closed" else None,
    }


async def shopper_times(tracker: TrackerStore | None,
                        rows: list[Handoff]) -> dict[str, list[float]]:
    """When the shoppers of these handoffs wrote since their handoff ({} without a
    readable tracker store)."""
    open_rows = [h for h in rows if h.status != "closed"]
    if tracker is None or not open_rows:
        return {}
    since = min(_unix(h.created_at) for h in open_rows)
    try:
        return await tracker.shopper_times([h.conversation_id for h in open_rows], since)
    except TrackerUnavailable:
        return {}


# --- the conversation ----------------------------------------------------------------------

def note_document(note: HandoffNote) -> dict[str, Any]:
    return {"key": f"n{note.id}", "id": note.id, "sender": "note", "agent": note.author,
            "text": note.text, "ts": iso(note.created_at)}


def agent_item(message: HandoffMessage) -> dict[str, Any]:
    return {"key": f"a{message.id}", **handoffs.message_document(message)}


async def notes_of(session: AsyncSession, handoff_id: int) -> list[HandoffNote]:
    return list((await session.scalars(select(HandoffNote).where(
        HandoffNote.handoff_id == handoff_id).order_by(HandoffNote.id))).all())


async def activity(session: AsyncSession, conversation_id: str) -> list[dict[str, Any]]:
    """What the shopper did in this conversation, from the shop's own events."""
    rows = (await session.scalars(
        select(Event).where(Event.conversation_id == conversation_id,
                            Event.name.in_(ACTIVITY))
        .order_by(Event.ts.desc()).limit(MAX_ACTIVITY))).all()
    return [{"key": f"e{event.event_id}", "sender": "activity", "name": event.name,
             "text": activity_text(event), "ts": iso(event.ts)} for event in reversed(rows)]


def activity_text(event: Event) -> str:
    p = event.properties or {}
    value = (format_money(event.value, event.currency)
             if event.value is not None and event.currency else "")
    quantity = p.get("quantity")
    texts = {
        "view_item_list": f"Searched “{p.get('q') or p.get('category') or 'everything'}” "
                          f"({p.get('results', '?')} results)",
        "add_to_cart": f"Added {event.item_id}{f' ×{quantity}' if quantity else ''} to the "
                       f"cart ({value})",
        "remove_from_cart": f"Removed {event.item_id} from the cart",
        "begin_checkout": f"Started the checkout ({value})",
        "add_payment_info": f"Payment link sent ({value})",
        "purchase": f"Paid order {event.order_number} ({value})",
        "refund": f"Refund on order {event.order_number} ({value})",
        "return_requested": f"Asked to return items of order {event.order_number}",
        "handoff_requested": _asked(p.get("reason")),
        "agent_joined": f"{p.get('agent') or 'An agent'} joined"
                        f"{' (transferred)' if p.get('via') == 'transfer' else ''}",
        "agent_left": f"{p.get('agent') or 'The agent'} left; back in the queue"
                      f"{' (their browser was gone)' if p.get('via') == 'grace' else ''}",
        "handoff_resolved": ("Resolved" if p.get("outcome") == "resolved"
                             else "Handed back to the assistant"),
        "handoff_rated": f"Rated the help {p.get('csat')}/5",
    }
    return texts.get(event.name, event.name)


def _asked(reason: str | None) -> str:
    kind = reason_kind(reason)
    return "Asked for a person" + ("" if kind == "asked" else f" ({REASON_KINDS[kind]})")


async def transcript(tracker: TrackerStore | None, handoff: Handoff, rasa_messages,
                     ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(what was said, oldest first, without the agents' replies; the live state). From
    the tracker store, or the handoff's copy plus Rasa's HTTP API (``rasa_messages()``)."""
    said = [{"key": f"h{n}", **turn} for n, turn in enumerate(handoff.transcript)]
    unavailable = None
    if tracker is not None:
        until = _unix(handoff.closed_at) + 1 if handoff.closed_at else None
        try:
            rows = await tracker.conversation(handoff.conversation_id, until=until)
            items = [item for item in map(transcript_item, rows) if item]
            if not any(row[3] <= _unix(handoff.created_at) for row in rows):
                items = said + items  # the store lost what came before: the bot's copy
            return items, {"available": True, "source": "tracker-store"}
        except TrackerUnavailable as error:
            unavailable = str(error)
    shopper, live = await rasa_messages()
    if unavailable and not live.get("available"):
        live = {**live, "detail": unavailable}
    since = [{"key": f"r{turn['ts']}", **turn} for turn in shopper]
    return said + since, live


def merge(*parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One timeline: every item in time order (items without a time keep their place at
    the start); an item seen twice (same key) once."""
    seen: set[str] = set()
    items = []
    for item in (item for part in parts for item in part):
        if item["key"] not in seen:
            seen.add(item["key"])
            items.append(item)
    return sorted(items, key=_moment)


def _moment(item: dict[str, Any]) -> datetime:
    ts = item.get("ts")
    return datetime.fromisoformat(ts.rstrip("Z")) if ts else datetime.min


# --- placeholders of canned replies ----------------------------------------------------------

def placeholders(handoff: Handoff, *, orders: list[dict[str, Any]],
                 checkout: dict[str, Any] | None, agent: str,
                 settings: Settings, names: list[str]) -> dict[str, str]:
    """The values of {first_name}, {order_number}, {agent_name}, {shop_name}, {reference}
    for this conversation ("" when not known: the reply's fallback text is used)."""
    number = (handoff.order_numbers or [None])[-1] or (orders[0]["number"] if orders else None)
    first = next((name.split()[0] for name in names if name and name.split()), "")
    if not first and checkout:
        first = ((checkout.get("shipping_address") or {}).get("name") or "").split(" ")[0]
    return {"first_name": first[:40], "order_number": number or "", "agent_name": agent,
            "shop_name": settings.shop_name, "reference": handoff.reference}


PLACEHOLDER = re.compile(r"\{(\w+)(?:\|([^{}]*))?\}")


def fill(text: str, values: dict[str, str]) -> str:
    """``{name}`` or ``{name|fallback}`` filled in; unknown names stay as written."""
    def one(match: re.Match) -> str:
        name, fallback = match.group(1), match.group(2)
        if name not in values:
            return match.group(0)
        return values[name] or (fallback if fallback is not None else "")
    return PLACEHOLDER.sub(one, text)


async def latest_checkout(session: AsyncSession,
                          conversation_id: str) -> dict[str, Any] | None:
    checkout = await session.scalar(
        select(Checkout).where(Checkout.conversation_id == conversation_id)
        .order_by(Checkout.id.desc()).limit(1))
    return checkout_document(checkout) if checkout else None


async def shipping_names(session: AsyncSession, numbers: list[str]) -> list[str]:
    """The names orders were shipped to (newest first): where a first name comes from."""
    from ..orders.models import Order
    if not numbers:
        return []
    rows = await session.scalars(select(Order).where(Order.number.in_(numbers))
                                 .order_by(Order.created_at.desc()))
    return [str((order.shipping_address or {}).get("name") or "") for order in rows]
