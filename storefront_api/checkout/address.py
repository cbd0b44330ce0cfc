"""Shipping addresses, validated the way each country writes them."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..values import Country

# Postal code formats (upper-cased, one space where the country writes one).
POSTAL_CODES: dict[str, tuple[str, str]] = {
    "US": (r"^\d{5}(-\d{4})?$", "5 digits, e.g. 94107 or 94107-1234"),
    "CA": (r"^[A-Z]\d[A-Z] ?\d[A-Z]\d$", "e.g. K1A 0B1"),
    "GB": (r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$", "e.g. SW1A 1AA"),
    "IE": (r"^[A-Z]\d[\dW] ?[A-Z\d]{4}$", "an Eircode, e.g. D02 X285"),
    "NL": (r"^\d{4} ?[A-Z]{2}$", "e.g. 1012 AB"),
    "PL": (r"^\d{2}-\d{3}$", "e.g. 00-950"),
    "PT": (r"^\d{4}-\d{3}$", "e.g. 1000-001"),
    "SE": (r"^\d{3} ?\d{2}$", "e.g. 114 55"),
    "CZ": (r"^\d{3} ?\d{2}$", "e.g. 110 00"),
    "GR": (r"^\d{3} ?\d{2}$", "e.g. 105 57"),
    "JP": (r"^\d{3}-?\d{4}$", "e.g. 100-0001"),
    "KR": (r"^\d{5}$", "5 digits"),
    "MX": (r"^\d{5}$", "5 digits"),
    "SG": (r"^\d{6}$", "6 digits"),
    "DE": (r"^\d{5}$", "5 digits"), "FR": (r"^\d{5}$", "5 digits"),
    "ES": (r"^\d{5}$", "5 digits"), "IT": (r"^\d{5}$", "5 digits"),
    "FI": (r"^\d{5}$", "5 digits"),
    "AT": (r"^\d{4}$", "4 digits"), "BE": (r"^\d{4}$", "4 digits"),
    "CH": (r"^\d{4}$", "4 digits"), "DK": (r"^\d{4}$", "4 digits"),
    "NO": (r"^\d{4}$", "4 digits"), "AU": (r"^\d{4}$", "4 digits"),
    "NZ": (r"^\d{4}$", "4 digits"), "HU": (r"^\d{4}$", "4 digits"),
    "LU": (r"^(L-)?\d{4}$", "4 digits"),
}
# Countries whose addresses need a state or province.
REGION_REQUIRED = {"US": "state", "CA": "province", "AU": "state", "MX": "state"}
US_STATES = set("""AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT
NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR""".split())
CA_PROVINCES = set("AB BC MB NB NL NS NT NU ON PE QC SK YT".split())

_TEXT = r"^[^\x00-\x1f<>{}]*$"  # printable, no markup


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=120, pattern=_TEXT)
    line1: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    line2: str = Field("", max_length=200, pattern=_TEXT)
    city: str = Field(min_length=1, max_length=120, pattern=_TEXT)
    region: str = Field("", max_length=80, pattern=_TEXT, description="state or province")
    postal_code: str = Field(min_length=2, max_length=12)
    country: Country
    phone: str = Field("", max_length=30, pattern=r"^[0-9 +()./-]*$")

    @model_validator(mode="after")
    def _by_country(self):
        self.postal_code = re.sub(r"\s+", " ", self.postal_code.upper())
        rule = POSTAL_CODES.get(self.country)
        if rule and not re.match(rule[0], self.postal_code):
            raise ValueError(f"postal_code {self.postal_code!r} is not a {self.country} postal "
                             f"code ({rule[1]})")
        needs = REGION_REQUIRED.get(self.country)
        if needs and not self.region:
            raise ValueError(f"region: a {self.country} address needs its {needs}")
        if self.country == "US" and self.region.upper() not in US_STATES:
            raise ValueError(f"region {self.region!r} is not a US state code (e.g. CA, NY)")
        if self.country == "CA" and self.region.upper() not in CA_PROVINCES:
            raise ValueError(f"region {self.region!r} is not a Canadian province code (e.g. ON)")
        if self.country in ("US", "CA"):
            self.region = self.region.upper()
        return self
