"""What the shopper is told when the parcel moves or a wanted variant comes back: an e-mail,
and a chat notice (an EXTERNAL_ intent) when the order or subscription came from the chat.

E-mails go out for the moments a shopper acts on (shipped, out for delivery, delivered),
not for every scan.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..catalog.inventory import VariantInfo
from ..chat import notices
from ..orders.emails import address_lines, lookup_url
from ..orders.models import Order
from ..outbox.service import enqueue_conversation_notice, enqueue_email
from ..settings import Settings
from .carriers import CARRIERS
from .models import Shipment


def _carrier_name(shipment: Shipment) -> str:
    carrier = CARRIERS.get(shipment.carrier)
    return carrier.name if carrier else shipment.carrier


def _signature(settings: Settings) -> list[str]:
    return ["", f"— {settings.shop_name}", ""]


async def order_shipped(session: AsyncSession, order: Order, shipment: Shipment,
                        settings: Settings) -> None:
    text = "\n".join([
        "Hello,", "",
        f"Good news: your order {order.number} has left our warehouse with "
        f"{_carrier_name(shipment)}.", "",
        f"Tracking number: {shipment.tracking_number}",
        f"Follow the parcel: {shipment.tracking_url}", "",
        "It is on its way to:", *[f"  {line}" for line in address_lines(order.shipping_address)],
        "", f"Your order: {lookup_url(order, settings)}", *_signature(settings)])
    await enqueue_email(session, to=order.email, tag="order-shipped", text=text,
                        subject=f"Your order {order.number} has shipped")
    if order.conversation_id:
        await enqueue_conversation_notice(
            session, conversation_id=order.conversation_id, intent=notices.ORDER_SHIPPED,
            entities={"order_number": order.number, "carrier": _carrier_name(shipment),
                      "tracking_number": shipment.tracking_number,
                      "tracking_url": shipment.tracking_url})


async def out_for_delivery(session: AsyncSession, order: Order, shipment: Shipment,
                           settings: Settings) -> None:
    text = "\n".join([
        "Hello,", "", f"Your order {order.number} is out for delivery today.", "",
        f"Tracking number: {shipment.tracking_number} ({_carrier_name(shipment)})",
        f"Follow the parcel: {shipment.tracking_url}", *_signature(settings)])
    await enqueue_email(session, to=order.email, tag="order-out-for-delivery", text=text,
                        subject=f"Your order {order.number} is out for delivery")


async def order_delivered(session: AsyncSession, order: Order, settings: Settings, *,
                          shipment: Shipment | None, description: str = "") -> None:
    how = f" ({description[0].lower()}{description[1:]})" if description else ""
    tracking = ([f"Tracking number: {shipment.tracking_number} ({_carrier_name(shipment)})"]
                if shipment else [])
    text = "\n".join([
        "Hello,", "", f"Your order {order.number} has been delivered{how}.", "", *tracking,
        "Something wrong or missing? Tell our shopping assistant in the chat, with your",
        "order number.", f"Your order: {lookup_url(order, settings)}", *_signature(settings)])
    await enqueue_email(session, to=order.email, tag="order-delivered", text=text,
                        subject=f"Your order {order.number} has been delivered")
    if order.conversation_id:
        await enqueue_conversation_notice(
            session, conversation_id=order.conversation_id, intent=notices.ORDER_DELIVERED,
            entities={"order_number": order.number})


async def back_in_stock(session: AsyncSession, variant: VariantInfo, *, email: str | None,
                        conversation_id: str | None, settings: Settings) -> None:
    what = f"{variant.product_title} ({variant.title})" if variant.title else variant.product_title
    if email:
        text = "\n".join([
            "Hello,", "",
            f"{what} is back in stock at {settings.shop_name}. You asked us to tell you.", "",
            f"SKU {variant.sku}: {variant.available} available now. Stock is not held for you,",
            "so order soon if you still want it: ask our shopping assistant in the chat or visit",
            f"  {settings.storefront_url}", "",
            "This was a one-off alert; you will not hear from us about it again.",
            *_signature(settings)])
        await enqueue_email(session, to=email, tag="back-in-stock", text=text,
                            subject=f"Back in stock: {what}")
    if conversation_id:
        await enqueue_conversation_notice(
            session, conversation_id=conversation_id, intent=notices.BACK_IN_STOCK,
            entities={"sku": variant.sku, "product_title": variant.product_title,
                      "variant": variant.title, "variant_id": variant.id})
