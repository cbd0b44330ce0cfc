"""The documents the API answers with, as pydantic models: the 2xx schemas of
/api/openapi.json (each route names its model with ``response=``).

The documents themselves are built by their domains (``cart.documents.cart_document``,
``orders/documents.py``...); these models only describe them, and are never used to build
or filter an answer. The fuzz run (tests/fuzz) checks every answer it gets against them, so
a builder that starts answering something else fails a test instead of surprising a client.
A document may carry more fields than its model names (clients ignore what they do not
know); every field named is there, with the type given.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, RootModel

Timestamp = str  # ISO 8601 UTC, "2026-03-01T09:30:00.123456Z"


class Money(BaseModel):
    amount: int = Field(description="minor units (cents)")
    currency: str = Field(description="ISO 4217")
    formatted: str = Field(description="for people: $49.99")


class Shop(BaseModel):
    name: str
    currency: str = Field(description="ISO 4217: every amount of the API is in its minor units")
    minor_units: int = Field(ge=0, le=4, description="decimals of the currency (2: cents)")


class DeliveryDays(BaseModel):
    min: int
    max: int


# --- catalog -------------------------------------------------------------------------------

class CategoryRef(BaseModel):
    id: int
    slug: str
    name: str
    path: str


class ProductSummary(BaseModel):
    id: int
    handle: str
    title: str
    vendor: str | None
    category: CategoryRef | None
    price: Money
    max_price: Money
    compare_at_price: Money | None
    on_sale: bool
    in_stock: bool
    colors: list[str]
    sizes: list[str]
    rating: float
    rating_count: int
    image: str | None
    url: str


class ProductList(BaseModel):
    items: list[ProductSummary]
    total: int
    page: int
    page_size: int
    pages: int
    query: dict[str, Any] = Field(description="how the text was understood")
    facets: dict[str, Any] | None


class Variant(BaseModel):
    id: int
    sku: str
    title: str | None
    size: str | None
    color: str | None
    price: Money
    compare_at_price: Money | None
    stock: int
    available: bool
    availability: str


class ProductPage(ProductSummary):
    description: str | None
    product_type: str | None
    tags: list[str]
    breadcrumb: list[CategoryRef]
    images: list[dict[str, Any]]
    attributes: list[dict[str, Any]]
    variants: list[Variant]
    options: dict[str, list[str]]


class SimilarProducts(BaseModel):
    items: list[ProductSummary]


class CategoryNode(CategoryRef):
    children: list[CategoryNode]


class CategoryTree(BaseModel):
    categories: list[CategoryNode]


# --- carts ---------------------------------------------------------------------------------

class CartLine(BaseModel):
    id: int
    variant_id: int
    sku: str
    product_id: int
    title: str
    variant_title: str | None
    size: str | None
    color: str | None
    image: str | None
    quantity: int
    unit_price: Money
    compare_at_price: Money | None
    line_total: Money
    available: int
    in_stock: bool


class CartPromoCode(BaseModel):
    code: str
    kind: str
    description: str
    valid: bool
    reason: str | None
    missing: Money | None


class CartShipping(BaseModel):
    country: str
    method: str | None
    name: str | None
    price: Money
    regular_price: Money | None
    free: bool
    free_reason: str | None
    delivery_days: DeliveryDays | None
    valid: bool
    reason: str | None


class Totals(BaseModel):
    subtotal: Money
    discount: Money
    shipping: Money
    tax: Money
    total: Money


class CartTotals(Totals):
    tax_rate_bp: int | None


class Cart(BaseModel):
    token: str = Field(description="the cart's only key: keep it")
    status: Literal["active", "merged", "converted"]
    currency: str
    signed_in: bool
    lines: list[CartLine]
    saved_for_later: list[CartLine]
    item_count: int
    promo_code: CartPromoCode | None
    shipping: CartShipping | None
    totals: CartTotals
    created_at: Timestamp
    updated_at: Timestamp
    notices: list[str] = Field(default_factory=list, description="what changed on merging")


class ShippingOption(BaseModel):
    method: str
    name: str
    zone: str | None
    price: Money
    regular_price: Money
    free: bool
    free_reason: str | None
    free_above: Money | None
    delivery_days: DeliveryDays
    description: str


class ShippingOptions(BaseModel):
    country: str
    currency: str
    options: list[ShippingOption]


class CountriesServed(BaseModel):
    countries_served: list[str]


class ShippingMethods(RootModel[CountriesServed | ShippingOptions]):
    """Without ``country``: the countries served; with it, that country's options."""


# --- checkout and payment ------------------------------------------------------------------

class CheckoutLine(BaseModel):
    variant_id: int
    sku: str
    title: str
    variant_title: str | None
    size: str | None
    color: str | None
    image: str | None
    quantity: int
    unit_price: Money
    line_total: Money


class CheckoutShipping(BaseModel):
    method: str
    name: str | None
    price: Money
    delivery_days: Any


class Checkout(BaseModel):
    token: str
    status: Literal["open", "completed", "expired", "failed"]
    email: str
    shipping_address: dict[str, Any]
    shipping: CheckoutShipping
    lines: list[CheckoutLine]
    promo_code: str | None
    totals: Totals
    tax_rate_bp: int | None
    payment_url: str | None = Field(description="while open: where the shopper pays")
    expires_at: Timestamp
    failure_reason: str | None
    order_number: str | None


class WebhookReceipt(BaseModel):
    received: bool
    duplicate: bool = False
    order_number: str | None = None


# --- orders and fulfilment -----------------------------------------------------------------

class OrderLine(BaseModel):
    sku: str
    title: str
    variant_title: str | None
    quantity: int
    returned_quantity: int
    unit_price: Money
    line_total: Money


class OrderTotals(Totals):
    refunded: Money


class TrackingEvent(BaseModel):
    status: str
    label: str
    location: str | None
    description: str | None
    at: Timestamp | None


class Shipment(BaseModel):
    carrier: str
    carrier_name: str
    tracking_number: str
    tracking_url: str | None
    status: str
    status_label: str
    created_at: Timestamp | None
    events: list[TrackingEvent]


class StatusChange(BaseModel):
    from_: str | None = Field(alias="from")
    status: str
    label: str
    note: str | None
    at: Timestamp | None


class OrderRefund(BaseModel):
    amount: Money
    reason: str | None
    status: str
    created_at: Timestamp | None


class Order(BaseModel):
    number: str
    status: str
    status_label: str
    status_detail: str
    created_at: Timestamp | None
    updated_at: Timestamp | None
    lines: list[OrderLine]
    item_count: int
    promo_code: str | None
    totals: OrderTotals
    shipping: dict[str, Any]
    history: list[StatusChange]
    shipments: list[Shipment]
    refunds: list[OrderRefund]
    lookup_url: str | None


class MerchantOrder(Order):
    email: str
    customer_id: int | None
    conversation_id: str | None
    channel: str | None
    payment_gateway: str | None
    payment_reference: str | None
    next_statuses: list[str]


class OrderSummary(BaseModel):
    number: str
    status: str
    status_label: str
    email: str
    total: Money
    shipping_method: str | None
    country: str | None
    created_at: Timestamp | None
    updated_at: Timestamp | None


class OrderList(BaseModel):
    items: list[OrderSummary]
    total: int
    page: int
    page_size: int


class ScannedShipment(Shipment):
    order_number: str
    order_status: str


class StockLevel(BaseModel):
    variant_id: int
    sku: str
    product_id: int
    product_title: str
    variant_title: str | None
    stock: int
    reserved: int
    available: int


class StockChange(StockLevel):
    subscribers_notified: int


class LowStock(BaseModel):
    threshold: int
    total: int
    page: int
    items: list[StockLevel]


class BackInStockSubscription(BaseModel):
    variant_id: int
    email: str | None
    conversation_id: str | None
    created_at: Timestamp | None
    already_subscribed: bool


# --- customers -----------------------------------------------------------------------------

class Customer(BaseModel):
    id: int
    email: str
    name: str
    marketing_consent: bool = Field(description="the account's marketing decision; a "
                                    "sign-up tick counts once the address confirmed it")
    created_at: Timestamp
    awaiting_confirmation: list[Literal["marketing", "advertising"]] = Field(
        default_factory=list, description="on sign-up: the purposes granted that take effect "
        "once the address's owner follows the link we e-mailed")


class SignedIn(BaseModel):
    customer_token: str = Field(description="send as Authorization: Bearer")
    expires_at: Timestamp
    customer: Customer
    cart_merged: bool
    cart: Cart


# --- pricing -------------------------------------------------------------------------------

class TaxRate(BaseModel):
    country: str
    rate_bp: int
    name: str
    source: Literal["merchant", "default"]


class TaxRates(BaseModel):
    tax_rates: list[TaxRate]


class PromoCode(BaseModel):
    code: str
    kind: str
    value: int
    description: str
    currency: str
    min_subtotal: Money
    starts_at: Timestamp | None
    expires_at: Timestamp | None
    usage_limit: int | None
    times_used: int
    active: bool


class PromoCodes(BaseModel):
    promo_codes: list[PromoCode]


class Accepted(BaseModel):
    accepted: bool


# --- after-sales ---------------------------------------------------------------------------

class Refund(BaseModel):
    id: int
    amount: Money
    reason: str | None
    rma_number: str | None
    status: Literal["pending", "succeeded", "failed"]
    failure_reason: str | None
    created_at: Timestamp | None
    updated_at: Timestamp | None


class MerchantRefund(Refund):
    order_number: str | None
    checkout_id: int | None


class Cancellation(BaseModel):
    order_number: str
    status: str
    already_cancelled: bool
    cancelled_at: Timestamp | None
    refund: Refund | None
    message: str


class ReturnItem(BaseModel):
    sku: str
    title: str
    quantity: int
    exchange_sku: str | None


class Return(BaseModel):
    rma_number: str
    order_number: str
    kind: Literal["return", "exchange"]
    status: str
    next_step: str
    reason: str
    note: str | None
    items: list[ReturnItem]
    refund_amount: Money
    created_at: Timestamp | None
    updated_at: Timestamp | None


class HandledReturn(Return):
    refund: Refund | None


class OrderReturns(BaseModel):
    order_number: str
    return_window_days: int
    return_window_closes_on: str | None
    returns: list[Return]


class OrderRefunds(BaseModel):
    order_number: str
    order_status: str
    total: Money
    refunded: Money
    refunds: list[Refund]


class Returns(BaseModel):
    returns: list[Return]


class Refunds(BaseModel):
    refunds: list[MerchantRefund]


# --- support -------------------------------------------------------------------------------

class Ticket(BaseModel):
    reference: str
    kind: Literal["complaint", "question"]
    status: str
    order_number: str | None
    email: str
    subject: str
    message: str
    conversation_id: str | None
    channel: str | None
    created_at: Timestamp | None


class Tickets(BaseModel):
    tickets: list[Ticket]


class Handoff(BaseModel):
    id: int
    reference: str
    status: Literal["waiting", "active", "closed"]
    position: int | None = Field(description="in the queue, while waiting")
    conversation_id: str
    channel: str
    reason: str
    agent: str | None
    agent_id: int | None = Field(None, description="the staff account holding it")
    email: str | None
    waited_seconds: int | float | None
    created_at: Timestamp | None
    claimed_at: Timestamp | None
    closed_at: Timestamp | None


class Handoffs(BaseModel):
    handoffs: list[Handoff]


class HandoffDetail(Handoff):
    cart_token: str | None
    order_numbers: list[str] | None
    cart: Cart | None
    orders: list[OrderSummary]
    live: dict[str, Any]
    transcript: list[dict[str, Any]]


class AgentMessage(BaseModel):
    id: int
    sender: Literal["agent"]
    agent: str | None
    text: str
    ts: Timestamp | None
    delivered: bool
    error: str | None


# --- recovery ------------------------------------------------------------------------------

class RecoveryStats(BaseModel):
    period_days: int
    recovery_window_days: int
    reminders_sent: dict[str, int]
    carts_reminded: int
    carts_recovered: int
    carts_pending: int
    carts_lost: int
    recovery_rate: float | None
    value_reminded: Any
    value_recovered: Any
    promo_codes: dict[str, int]


class CheckoutPreview(BaseModel):
    status: Literal["preview"]
    email: str
    shipping_address: dict[str, Any]
    shipping: CheckoutShipping
    lines: list[CheckoutLine]
    promo_code: str | None
    totals: Totals
    tax_rate_bp: int | None
    payment_url: None
    hold: dict[str, Any] = Field(description="what asking for the link will hold, how long")


# --- consent -------------------------------------------------------------------------------

class ConsentDecisions(BaseModel):
    consent: dict[str, Any] = Field(description="per purpose: the decision in force, or null")
    awaiting_confirmation: list[Literal["marketing", "advertising"]] = Field(
        default_factory=list, description="on a change: the purposes granted that reach the "
        "account's e-mail address once its owner follows the link we e-mailed")


# --- staff ---------------------------------------------------------------------------------

class StaffIdentity(BaseModel):
    id: int | None = Field(description="null for the break-glass token")
    email: str
    name: str
    role: Literal["admin", "merchant", "agent"]
    via: str


class StaffSession(BaseModel):
    id: int
    kind: str
    current: bool
    created_at: Timestamp | None
    last_seen_at: Timestamp | None
    ends_at: Timestamp | None
    expires_at: Timestamp | None
    address: str | None
    user_agent: str | None


class StaffSignedIn(BaseModel):
    kind: Literal["cookie", "bearer"]
    session: StaffSession
    staff: StaffIdentity
    token: str | None = Field(None, description="kind=bearer: send as Authorization: Bearer")
    csrf_token: str | None = Field(None, description="kind=cookie: send as X-CSRF-Token")


class StaffWhoAmI(BaseModel):
    staff: StaffIdentity
    session: StaffSession | None
    csrf_token: str | None = None


class StaffSessions(BaseModel):
    sessions: list[StaffSession]


class StaffUser(BaseModel):
    id: int
    email: str
    name: str
    role: Literal["admin", "merchant", "agent"]
    password_set: bool
    disabled: bool
    created_at: Timestamp | None
    disabled_at: Timestamp | None
    sessions: int | None = None


class StaffUsers(BaseModel):
    staff: list[StaffUser]


class PasswordSet(BaseModel):
    email: str
    role: str


class SessionsRevoked(BaseModel):
    revoked: int


class PasswordLinkSent(BaseModel):
    password_link_expires_at: Timestamp


# --- support inbox -------------------------------------------------------------------------

class InboxOrder(BaseModel):
    number: str
    status_label: str


class InboxHandoff(Handoff):
    """A row of the inbox's queue."""
    reason_kind: Literal["asked", "misunderstanding", "complaint", "payment"]
    reason_label: str
    email_verified: bool
    cart_value: Money | None = Field(description="the cart's total now, if it holds items")
    cart_items: int
    orders: list[InboxOrder] = Field(description="verified or placed in this conversation")
    first_reply_at: Timestamp | None
    outcome: Literal["resolved", "handed_back"] | None
    csat: int | None
    awaiting_reply_since: Timestamp | None = Field(
        description="the shopper's first message no person has answered yet")


class InboxAgent(BaseModel):
    id: int
    name: str
    role: Literal["admin", "agent"]
    online: bool


class Inbox(BaseModel):
    me: dict[str, Any]
    targets: dict[str, int] = Field(description="waiting seconds: amber, red")
    support_hours: dict[str, Any]
    live_messages: bool = Field(description="shoppers' messages arrive live (Rasa's tracker "
                                            "store is readable)")
    handoffs: list[InboxHandoff] = Field(description="open ones, in queue order")
    resolved: list[InboxHandoff] = Field(description="the latest closed ones, newest first")
    agents: list[InboxAgent]


class CannedReply(BaseModel):
    id: int
    shortcut: str
    title: str
    text: str
    updated_by: str
    updated_at: Timestamp | None


class FilledCannedReply(CannedReply):
    filled: str = Field(description="the text with this conversation's placeholders")


class CannedReplies(BaseModel):
    canned_replies: list[CannedReply]


class InboxConversation(InboxHandoff):
    cart_token: str | None
    cart: Cart | None
    order_details: list[OrderSummary]
    checkout: dict[str, Any] | None = Field(description="the conversation's latest checkout")
    transcript: list[dict[str, Any]] = Field(description="shopper, bot, agent, note and "
                                                         "activity items in time order")
    live: dict[str, Any]
    placeholders: dict[str, str]
    canned_replies: list[FilledCannedReply]


class HandoffNote(BaseModel):
    key: str
    id: int
    sender: Literal["note"]
    agent: str
    text: str
    ts: Timestamp | None


class InboxAgents(BaseModel):
    agents: list[InboxAgent]


class Presence(BaseModel):
    online: list[dict[str, Any]]


class SupportAvailability(BaseModel):
    available: bool = Field(description="open now and at least one agent online")
    open_now: bool
    agents_online: int
    back_at: Timestamp | None = Field(description="when the team opens next (if closed)")
    back_text: str | None = Field(description="the same, for the shopper to read")
    support_hours: str


class HandoffRating(BaseModel):
    reference: str
    csat: int
    agent: str | None
