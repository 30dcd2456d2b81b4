"""The retail back office's tables (SQLAlchemy 2 ORM, the same on SQLite and PostgreSQL) and the
dicts they turn into, in the shape of tau-bench's retail JSON files.

Money is stored as integer cents, exact on every dialect; dicts carry dollars as floats.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from domains.retail.data import ADDRESS_FIELDS


class Base(DeclarativeBase):
    """The back office's tables, all named retail_*, so that they can share a database."""


class _Address:
    address1: Mapped[str] = mapped_column(String(200))
    address2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(100))
    zip: Mapped[str] = mapped_column(String(20))

    def address(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in ADDRESS_FIELDS}


class User(_Address, Base):
    __tablename__ = "retail_users"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(255), unique=True)
    payment_methods: Mapped[list[PaymentMethod]] = relationship(
        cascade="all, delete-orphan", order_by="PaymentMethod.position"
    )
    orders: Mapped[list[Order]] = relationship(back_populates="user", order_by="Order.id")


class PaymentMethod(Base):
    __tablename__ = "retail_payment_methods"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("retail_users.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)  # order in the user's profile
    source: Mapped[str] = mapped_column(String(20))  # credit_card, paypal or gift_card
    brand: Mapped[str | None] = mapped_column(String(40))  # credit cards only
    last_four: Mapped[str | None] = mapped_column(String(4))  # credit cards only
    balance_cents: Mapped[int | None] = mapped_column(Integer)  # gift cards only


class Product(Base):
    __tablename__ = "retail_products"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    items: Mapped[list[Item]] = relationship(
        back_populates="product", cascade="all, delete-orphan", order_by="Item.position"
    )


class Item(Base):
    """One variant of a product: its options, price and whether it can be ordered now."""

    __tablename__ = "retail_items"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(
        ForeignKey("retail_products.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    price_cents: Mapped[int] = mapped_column(Integer)
    available: Mapped[bool] = mapped_column(Boolean)
    product: Mapped[Product] = relationship(back_populates="items")


class Order(_Address, Base):
    __tablename__ = "retail_orders"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("retail_users.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(40))
    cancel_reason: Mapped[str | None] = mapped_column(String(40))
    return_payment_method_id: Mapped[str | None] = mapped_column(String(80))
    exchange_payment_method_id: Mapped[str | None] = mapped_column(String(80))
    exchange_difference_cents: Mapped[int | None] = mapped_column(Integer)  # + the user pays
    user: Mapped[User] = relationship(back_populates="orders")
    items: Mapped[list[OrderItem]] = relationship(
        cascade="all, delete-orphan", order_by="OrderItem.position"
    )
    fulfillments: Mapped[list[Fulfillment]] = relationship(
        cascade="all, delete-orphan", order_by="Fulfillment.position"
    )
    payments: Mapped[list[Payment]] = relationship(
        cascade="all, delete-orphan", order_by="Payment.position"
    )


class OrderItem(Base):
    """One line of an order (an order may hold the same item twice, so lines have their own key)."""

    __tablename__ = "retail_order_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(
        ForeignKey("retail_orders.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[str] = mapped_column(
        String(40)
    )  # what was bought, kept if the catalogue changes
    product_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    price_cents: Mapped[int] = mapped_column(Integer)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    request: Mapped[str | None] = mapped_column(String(20))  # "return" or "exchange" once asked
    new_item_id: Mapped[str | None] = mapped_column(String(40))  # what an exchange asks for


class Fulfillment(Base):
    __tablename__ = "retail_fulfillments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(
        ForeignKey("retail_orders.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    tracking_ids: Mapped[list[str]] = mapped_column(JSON)
    item_ids: Mapped[list[str]] = mapped_column(JSON)


class Payment(Base):
    """One transaction of an order's payment history."""

    __tablename__ = "retail_payments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(
        ForeignKey("retail_orders.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))  # "payment" or "refund"
    amount_cents: Mapped[int] = mapped_column(Integer)
    payment_method_id: Mapped[str] = mapped_column(String(80))


class AuditEntry(Base):
    """One executed write: who, when, which tool with which arguments, and what it returned."""

    __tablename__ = "retail_audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # UTC
    session_id: Mapped[str] = mapped_column(String(80), index=True)
    user_id: Mapped[str | None] = mapped_column(String(80), index=True)
    tool: Mapped[str] = mapped_column(String(80))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)


# Tables in the order a reset empties them (children first); the audit table is never emptied.
DATA_TABLES = (Payment, Fulfillment, OrderItem, Order, PaymentMethod, User, Item, Product)


def dollars(cents: int) -> float:
    return round(cents / 100, 2)


def user_dict(user: User) -> dict[str, Any]:
    """A user in users.json's shape: name, address, email, payment methods (with gift card
    balances) and order ids."""
    methods = {}
    for m in user.payment_methods:
        method: dict[str, Any] = {"source": m.source, "id": m.id}
        if m.source == "credit_card":
            method |= {"brand": m.brand, "last_four": m.last_four}
        if m.balance_cents is not None:
            method["balance"] = dollars(m.balance_cents)
        methods[m.id] = method
    return {
        "user_id": user.id,
        "name": {"first_name": user.first_name, "last_name": user.last_name},
        "address": user.address(),
        "email": user.email,
        "payment_methods": methods,
        "orders": [o.id for o in user.orders],
    }


def product_dict(product: Product) -> dict[str, Any]:
    """A product in products.json's shape: name, id and its items as `variants`."""
    variants = {
        i.id: {
            "item_id": i.id,
            "options": i.options,
            "available": i.available,
            "price": dollars(i.price_cents),
        }
        for i in product.items
    }
    return {"name": product.name, "product_id": product.id, "variants": variants}


def order_dict(order: Order) -> dict[str, Any]:
    """An order in orders.json's shape, plus what a cancel, return or exchange recorded."""
    out: dict[str, Any] = {
        "order_id": order.id,
        "user_id": order.user_id,
        "address": order.address(),
        "items": [
            {
                "name": i.name,
                "product_id": i.product_id,
                "item_id": i.item_id,
                "price": dollars(i.price_cents),
                "options": i.options,
            }
            for i in order.items
        ],
        "fulfillments": [
            {"tracking_id": f.tracking_ids, "item_ids": f.item_ids} for f in order.fulfillments
        ],
        "status": order.status,
        "payment_history": [
            {
                "transaction_type": p.kind,
                "amount": dollars(p.amount_cents),
                "payment_method_id": p.payment_method_id,
            }
            for p in order.payments
        ],
    }
    if order.cancel_reason:
        out["cancel_reason"] = order.cancel_reason
    if order.return_payment_method_id:
        out["return_items"] = sorted(i.item_id for i in order.items if i.request == "return")
        out["return_payment_method_id"] = order.return_payment_method_id
    if order.exchange_payment_method_id:
        swapped = [i for i in order.items if i.request == "exchange"]
        out["exchange_items"] = sorted(i.item_id for i in swapped)
        out["exchange_new_items"] = sorted(i.new_item_id or "" for i in swapped)
        out["exchange_payment_method_id"] = order.exchange_payment_method_id
        out["exchange_price_difference"] = dollars(order.exchange_difference_cents or 0)
    return out
