"""What the bot says, in a form every messaging channel can render its own way.

Rasa hands an output channel one message at a time: ``text``, ``buttons`` (a payload such as
``/add_to_cart{"product_id": 7}``, or a ``web_url`` button for the payment link), ``image``,
and the actions' custom payloads (``{"data": {...}}``, bot/actions/common.py ``web_payload``):
product cards, an agent's message, the hand-off banner. ``parts`` turns one into a list of
``Text``, ``Choices``, ``Image`` and ``Cards``; each channel then draws them (Telegram inline
keyboards, WhatsApp interactive messages, Messenger templates, Slack blocks, numbered text on
SMS). Nothing a channel cannot show is dropped: what has no native form becomes text (a link
written out, choices numbered).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Button:
    title: str
    payload: Optional[str] = None  # sent back as the shopper's message when tapped
    url: Optional[str] = None  # opened instead (the payment link)


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Choices:
    text: str
    buttons: List[Button]


@dataclass(frozen=True)
class Image:
    url: str
    caption: str = ""


@dataclass(frozen=True)
class Card:
    title: str
    subtitle: str = ""
    image_url: Optional[str] = None
    buttons: List[Button] = field(default_factory=list)


@dataclass(frozen=True)
class Cards:
    cards: List[Card]


Part = Union[Text, Choices, Image, Cards]


def button_of(raw: Dict[str, Any]) -> Optional[Button]:
    title = str(raw.get("title") or "").strip()
    if not title:
        return None
    if raw.get("type") == "web_url" or raw.get("url"):
        url = str(raw.get("url") or raw.get("payload") or "")
        return Button(title, url=url) if url.startswith(("https://", "http://")) else None
    payload = raw.get("payload")
    return Button(title, payload=str(payload)) if payload else None


def buttons_of(raw: Any) -> List[Button]:
    found = [button_of(b) for b in raw or [] if isinstance(b, dict)]
    return [b for b in found if b is not None]


def card_of(raw: Dict[str, Any]) -> Card:
    return Card(title=str(raw.get("title") or ""), subtitle=str(raw.get("subtitle") or ""),
                image_url=raw.get("image_url") or None, buttons=buttons_of(raw.get("buttons")))


def parts(message: Dict[str, Any]) -> List[Part]:
    """The parts of one message from Rasa, in the order the shopper should read them."""
    found: List[Part] = []
    text = str(message.get("text") or "").strip()
    buttons = buttons_of(message.get("buttons") or message.get("quick_replies"))
    if buttons:
        found.append(Choices(text, buttons))
    elif text:
        found.append(Text(text))
    if message.get("image"):
        found.append(Image(str(message["image"])))
    if message.get("elements"):
        found.append(Cards([card_of(e) for e in message["elements"] if isinstance(e, dict)]))
    if message.get("attachment"):
        attachment = message["attachment"]
        url = attachment.get("payload", {}).get("src") if isinstance(attachment, dict) \
            else str(attachment)
        if url:
            found.append(Text(str(url)))
    if message.get("custom") is not None:
        found.extend(custom_parts(message["custom"]))
    return found


def custom_parts(custom: Any) -> List[Part]:
    """The actions' custom payloads (bot/actions/common.py ``web_payload``)."""
    data = custom.get("data") if isinstance(custom, dict) else None
    if not isinstance(data, dict):
        logger.warning("channel: a custom payload of an unknown shape was sent as is")
        return [Text(str(custom))] if custom else []
    if data.get("type") == "product_cards":
        cards = [card_of(c) for c in data.get("cards") or [] if isinstance(c, dict)]
        return [Cards(cards)] if cards else []
    if data.get("text"):  # an agent's message from the inbox
        agent = str(data.get("agent") or "Shop team")
        return [Text(f"{agent}: {data['text']}")]
    if set(data) == {"handoff"}:
        return []  # the web chat's banner state; the bot's text already said it
    logger.warning("channel: custom payload %s has no rendering; sent as text",
                   sorted(data)[:5])
    return [Text(", ".join(f"{k}: {v}" for k, v in data.items()))]


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis showing it was cut; runs of spaces
    made one, its lines kept."""
    text = "\n".join(" ".join(line.split()) for line in str(text).strip().splitlines())
    return text if len(text) <= limit else text[:max(1, limit - 1)].rstrip() + "…"


def numbered(text: str, buttons: List[Button], start: int = 1) -> str:
    """Choices as numbered lines (SMS, and whatever a platform cannot show as buttons); the
    links written out in full."""
    lines = [text] if text else []
    for index, b in enumerate(buttons, start):
        lines.append(f"{b.title}: {b.url}" if b.url else f"{index}. {b.title}")
    return "\n".join(lines)


def card_text(card: Card) -> str:
    return " — ".join(x for x in (card.title, card.subtitle) if x)


class RenderingOutput:
    """Mixed into each channel's ``OutputChannel``: every way Rasa sends (``send_response``
    and the ``send_*`` helpers) goes through ``parts`` and the channel's ``draw``."""

    async def draw(self, recipient_id: str, part: Part) -> None:  # pragma: no cover
        raise NotImplementedError

    async def before_sending(self, recipient_id: str, found: List[Part]) -> List[Part]:
        return found

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        found = await self.before_sending(recipient_id, parts(message))
        for part in found:
            await self.draw(recipient_id, part)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"image": image})

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"attachment": attachment})

    async def send_text_with_buttons(self, recipient_id: str, text: str,
                                     buttons: List[Dict[str, Any]], **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text, "buttons": buttons})

    async def send_quick_replies(self, recipient_id: str, text: str,
                                 quick_replies: List[Dict[str, Any]], **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text, "buttons": quick_replies})

    async def send_elements(self, recipient_id: str, elements: List[Dict[str, Any]],
                            **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"elements": elements})

    async def send_custom_json(self, recipient_id: str, json_message: Dict[str, Any],
                               **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"custom": json_message})


def split_text(text: str, limit: int) -> List[str]:
    """A long text in pieces of at most ``limit`` characters, cut at line ends if it can."""
    pieces: List[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*pieces, text] if text else pieces
