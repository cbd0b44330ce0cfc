"""Imports every domain's tables so that ``Base.metadata`` is complete (Alembic, tests)."""

from .cart.models import Cart, CartLine  # noqa: F401
from .catalog.models import (Category, Product, ProductAttribute, ProductImage,  # noqa: F401
                             SearchTerm, Variant)
from .customers.models import Customer  # noqa: F401
from .db import Base  # noqa: F401
from .events.models import Event  # noqa: F401
from .pricing.models import (PromoCode, ShippingRate, ShippingZone,  # noqa: F401
                             ShippingZoneCountry, TaxRate)
