"""Imports every domain's tables so that ``Base.metadata`` is complete (Alembic, tests)."""

from .cart.models import Cart, CartLine, CartRequest  # noqa: F401
from .catalog.models import (Category, Product, ProductAttribute, ProductImage,  # noqa: F401
                             SearchTerm, Variant)
from .customers.models import Customer  # noqa: F401
from .db import Base  # noqa: F401
from .events.models import ConversationEvent, Event  # noqa: F401
from .pricing.models import (PromoCode, ShippingRate, ShippingZone,  # noqa: F401
                             ShippingZoneCountry, TaxRate)
from .aftersales.models import ReturnLine, ReturnRequest  # noqa: F401
from .catalog.models import StockReservation  # noqa: F401
from .checkout.models import Checkout  # noqa: F401
from .consent.models import ConsentDecision  # noqa: F401
from .fulfilment.models import BackInStockSubscription, Shipment, TrackingEvent  # noqa: F401
from .orders.models import Order, OrderLine, OrderStatusChange  # noqa: F401
from .outbox.models import OutboxMessage  # noqa: F401
from .payments.models import PaymentEvent, Refund  # noqa: F401
from .recovery.models import CartReminder  # noqa: F401
from .support.models import (AgentPresence, CannedReply, Handoff, HandoffMessage,  # noqa: F401
                             HandoffNote, SupportTicket)
from .staff.models import StaffPasswordToken, StaffSession, StaffUser  # noqa: F401
