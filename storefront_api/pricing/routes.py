"""Pricing HTTP routes: the shop's currency and the shipping methods (public), and the
merchant's tax rates and promo codes under /api/admin (staff sign-in, role merchant)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from ..app_keys import DB, SETTINGS
from ..problems import Problem, unprocessable
from .. import responses
from ..money import minor_unit_exponent
from ..routing import ApiRoutes, json_response
from ..values import Country
from . import service
from .documents import promo_document, shipping_option_document

routes = ApiRoutes("pricing")

MAX_AMOUNT = 10**9  # minor units: ten million dollars is plenty for one code



class ShippingMethodsQuery(BaseModel):
    country: Country | None = Field(None, description="only the methods for this country")


class TaxRateInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate_bp: StrictInt = Field(ge=0, le=10000, description="basis points: 2000 = 20 %")
    name: str = Field("Tax", min_length=1, max_length=40, description="e.g. VAT, GST")


class PromoCodeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=40, pattern=r"^[A-Za-z0-9_-]{2,40}$",
                      description="stored upper-case")
    kind: Literal["percentage", "fixed_amount", "free_shipping"]
    value: StrictInt = Field(0, ge=0, le=MAX_AMOUNT,
                             description="percentage: 1-100; fixed_amount: minor units")
    currency: str | None = Field(None, max_length=3, pattern=r"^[A-Z]{3}$",
                                 description="default: the shop's")
    min_subtotal: StrictInt = Field(0, ge=0, le=MAX_AMOUNT, description="minor units")
    starts_at: datetime | None = None
    expires_at: datetime | None = None
    usage_limit: StrictInt | None = Field(None, ge=1, le=10**9)
    active: StrictBool = True

    @model_validator(mode="after")
    def _consistent(self):
        if self.kind == "percentage" and not 1 <= self.value <= 100:
            raise ValueError("a percentage code needs a value from 1 to 100")
        if self.kind == "fixed_amount" and self.value < 1:
            raise ValueError("a fixed_amount code needs a value in minor units (at least 1)")
        if self.kind == "free_shipping" and self.value:
            raise ValueError("a free_shipping code takes no value")
        self.starts_at = service.as_utc_naive(self.starts_at)
        self.expires_at = service.as_utc_naive(self.expires_at)
        if self.starts_at and self.expires_at and self.starts_at >= self.expires_at:
            raise ValueError("expires_at must be after starts_at")
        return self


def _country(request: web.Request) -> str:
    country = request.match_info["country"]
    if not re.fullmatch(r"[A-Za-z]{2}", country):
        raise unprocessable(f"{country[:20]!r} is not a country code; use ISO 3166-1 alpha-2 "
                            "such as DE or US.", type="invalid-country")
    return country.upper()


@routes.get("/api/shop", summary="The shop's name and currency", response=responses.Shop)
async def shop_details(request: web.Request) -> web.Response:
    """What a client needs before it sends a price: every amount of the API is in minor units
    of ``currency``, ``minor_units`` decimals of it (2 for USD, 0 for JPY, 3 for KWD), so
    "under 40" is ``max_price=40 * 10**minor_units``."""
    settings = request.app[SETTINGS]
    return json_response({"name": settings.shop_name, "currency": settings.currency,
                          "minor_units": minor_unit_exponent(settings.currency)})


@routes.get("/api/shipping-methods", summary="Countries served, or one country's shipping methods",
            query=ShippingMethodsQuery, errors=(422,), response=responses.ShippingMethods)
async def list_shipping_methods(request: web.Request, query: ShippingMethodsQuery):
    """With ``country``: that country's methods, prices and delivery days (422 listing the
    countries served if it is not). Without: every country served."""
    currency = request.app[SETTINGS].currency
    async with request.app[DB].read() as session:
        served = await service.countries_served(session)
        if query.country is None:
            return json_response({"countries_served": served})
        quotes = await service.shipping_quotes(session, query.country)
    return json_response({"country": query.country, "currency": currency,
                          "options": [shipping_option_document(q, currency) for q in quotes]})


@routes.get("/api/admin/tax-rates", summary="Tax rates by country", auth="merchant",
            response=responses.TaxRates)
async def list_tax_rates(request: web.Request) -> web.Response:
    async with request.app[DB].read() as session:
        rates = await service.list_tax_rates(session, request.app[SETTINGS])
    return json_response({"tax_rates": rates})


@routes.put("/api/admin/tax-rates/{country}", summary="Set a country's tax rate",
            body=TaxRateInput, auth="merchant", errors=(400, 422),
            response=responses.TaxRate)
async def set_tax_rate(request: web.Request, body: TaxRateInput) -> web.Response:
    """Takes effect on the next read of every cart shipping to that country."""
    country = _country(request)
    async with request.app[DB].write() as session:
        row = await service.set_tax_rate(session, country, body.rate_bp, body.name)
        document = {"country": row.country, "rate_bp": row.rate_bp, "name": row.name,
                    "source": "merchant"}
    return json_response(document)


@routes.delete("/api/admin/tax-rates/{country}", auth="merchant", errors=(404, 422),
               summary="Forget a country's tax rate (back to the built-in default)",
               response=responses.TaxRate)
async def reset_tax_rate(request: web.Request) -> web.Response:
    country = _country(request)
    async with request.app[DB].write() as session:
        removed = await service.reset_tax_rate(session, country)
    if not removed:
        raise Problem(404, "Not found", f"{country} has no rate of the merchant's own; it "
                      "already uses the built-in default.", type="no-merchant-rate")
    default = request.app[SETTINGS].tax_rates.get(country, 0)
    return json_response({"country": country, "rate_bp": default, "name": "Tax",
                          "source": "default"})


@routes.get("/api/admin/promo-codes", summary="Promo codes", auth="merchant",
            response=responses.PromoCodes)
async def list_promo_codes(request: web.Request) -> web.Response:
    async with request.app[DB].read() as session:
        promos = await service.list_promos(session)
    return json_response({"promo_codes": [promo_document(p) for p in promos]})


@routes.post("/api/admin/promo-codes", summary="Create a promo code", body=PromoCodeCreate,
             status=201, auth="merchant", errors=(400, 409, 422),
             response=responses.PromoCode)
async def create_promo_code(request: web.Request, body: PromoCodeCreate) -> web.Response:
    fields = body.model_dump()
    fields["currency"] = fields["currency"] or request.app[SETTINGS].currency
    async with request.app[DB].write() as session:
        promo = await service.create_promo(session, **fields)
        document = promo_document(promo)
    return json_response(document, status=201)
