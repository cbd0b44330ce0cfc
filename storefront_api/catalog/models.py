"""Catalog tables: a category tree, products, their variants, images and attributes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer,
                        String, Text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, utcnow


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    # Slash-separated slugs from the root ("men/tops/hoodies"): subtree filters are a prefix match.
    path: Mapped[str] = mapped_column(String(400), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handle: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    vendor: Mapped[str] = mapped_column(String(120), default="")
    product_type: Mapped[str] = mapped_column(String(120), default="")
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    tags: Mapped[str] = mapped_column(Text, default="")  # comma-separated, as in Shopify
    rating: Mapped[float] = mapped_column(Float, default=0.0)
    rating_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # Denormalised from the variants (kept by catalog.service.refresh_product_summaries) so
    # that search filters, sorts and facets never aggregate variants per request.
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    min_price: Mapped[int] = mapped_column(Integer, default=0, index=True)
    max_price: Mapped[int] = mapped_column(Integer, default=0)
    in_stock: Mapped[bool] = mapped_column(Boolean, default=False)
    colors: Mapped[str] = mapped_column(Text, default="")  # "|black|navy|"
    sizes: Mapped[str] = mapped_column(Text, default="")   # "|S|M|L|"

    category: Mapped[Category | None] = relationship(lazy="raise")
    variants: Mapped[list["Variant"]] = relationship(
        back_populates="product", lazy="raise", order_by="Variant.position",
        cascade="all, delete-orphan")
    images: Mapped[list["ProductImage"]] = relationship(
        lazy="raise", order_by="ProductImage.position", cascade="all, delete-orphan")
    attributes: Mapped[list["ProductAttribute"]] = relationship(
        lazy="raise", order_by="ProductAttribute.position", cascade="all, delete-orphan")

    __table_args__ = (
        Index("ix_products_rating", "rating"),
        Index("ix_products_category_price", "category_id", "min_price"),
    )


class Variant(Base):
    __tablename__ = "variants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    size: Mapped[str | None] = mapped_column(String(40))
    color: Mapped[str | None] = mapped_column(String(60))
    price: Mapped[int] = mapped_column(Integer)  # minor units
    compare_at_price: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    stock: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)

    product: Mapped[Product] = relationship(back_populates="variants", lazy="raise")

    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        Index("ix_variants_color_size", "color", "size"),
    )


class ProductImage(Base):
    __tablename__ = "product_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(1000))
    alt: Mapped[str] = mapped_column(String(255), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class ProductAttribute(Base):
    __tablename__ = "product_attributes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    value: Mapped[str] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(Integer, default=0)


class SearchTerm(Base):
    """Vocabulary of words in titles, categories, types, tags and colours (typo correction)."""

    __tablename__ = "search_terms"

    term: Mapped[str] = mapped_column(String(80), primary_key=True)
    frequency: Mapped[int] = mapped_column(Integer, default=1)


class ProductSearch(Base):
    """Derived search projection of one product (see migration 0002); written only by the
    search indexer. PostgreSQL adds a ``search_vector`` column."""

    __tablename__ = "product_search"

    id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"),
                                    primary_key=True, autoincrement=False)
    category_id: Mapped[int | None] = mapped_column(Integer)
    min_price: Mapped[int] = mapped_column(Integer)
    max_price: Mapped[int] = mapped_column(Integer)
    in_stock: Mapped[bool] = mapped_column(Boolean)
    rating: Mapped[float] = mapped_column(Float)
    rating_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    color_mask: Mapped[int] = mapped_column(BigInteger)
    size_mask: Mapped[int] = mapped_column(BigInteger)
    stock_color_mask: Mapped[int] = mapped_column(BigInteger)
    stock_size_mask: Mapped[int] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(BigInteger, index=True)


class SearchState(Base):
    """One row: the version of the search projection, bumped by every re-index."""

    __tablename__ = "search_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)
    rebuilt_version: Mapped[int] = mapped_column(BigInteger)
    # the version at which product text last changed: cached text matches older than it
    # are stale (stock and price changes do not touch it)
    text_version: Mapped[int] = mapped_column(BigInteger, server_default="0")


class SearchFacetValue(Base):
    """The bit that stands for one colour or size in ``product_search``'s masks."""

    __tablename__ = "search_facet_values"

    facet: Mapped[str] = mapped_column(String(10), primary_key=True)
    value: Mapped[str] = mapped_column(String(60), primary_key=True)
    label: Mapped[str] = mapped_column(String(60))
    bit: Mapped[int] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(Integer)


class StockReservation(Base):
    """Units of a variant held for an open checkout; released when it expires or fails,
    consumed when the order is created. Available stock = stock - active reservations."""

    __tablename__ = "stock_reservations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checkout_id: Mapped[int] = mapped_column(ForeignKey("checkouts.id", ondelete="CASCADE"),
                                             index=True)  # who holds them
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|released|consumed
    expires_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_stock_reservations_variant_status", "variant_id", "status"),)
