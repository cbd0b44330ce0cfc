"""Aisle's commerce API: catalog, search, carts and pricing (and, later, checkout and orders)."""

__version__ = "0.1.0"
