"""The retail tools that read: the two finders (which authenticate the user), the profile, the
orders, the catalogue, and the hand-over to a person. Open to everyone (the finders, the
catalogue) or to the authenticated user only; the writes are in `domains.retail.tools`."""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from dialogue.policy.toolkit import Context, Refusal, ToolResult, tool
from domains.retail import rules
from domains.retail.params import ORDER_ID, USER_ID, string_param
from domains.retail.schema import Item, Product, User, dollars, order_dict, product_dict, user_dict

logger = logging.getLogger(__name__)


def _authenticate(ctx: Context, user_id: str) -> ToolResult:
    me = ctx.session.user_id
    if me is not None and me != user_id:
        raise Refusal(
            "wrong_user",
            f"this conversation already serves user {me}; policy allows one user per conversation",
        )
    ctx.session.user_id = user_id
    return ToolResult(True, {"user_id": user_id})


@tool(
    "Find the user id by email; authenticates the user.",
    {"email": string_param("The email.")},
    open_=True,
)
def find_user_id_by_email(ctx: Context, email: str) -> ToolResult:
    query = select(User.id).where(func.lower(User.email) == email.strip().lower())
    user_id = ctx.db.scalars(query).first()
    if user_id is None:
        raise Refusal("not_found", f"no user with email {email!r}; check it, or try name and zip")
    return _authenticate(ctx, user_id)


@tool(
    "Find the user id by first name, last name and zip code; authenticates the user.",
    {
        "first_name": string_param("First name."),
        "last_name": string_param("Last name."),
        "zip": string_param("Zip."),
    },
    open_=True,
)
def find_user_id_by_name_zip(ctx: Context, first_name: str, last_name: str, zip: str) -> ToolResult:
    query = select(User.id).where(
        func.lower(User.first_name) == first_name.strip().lower(),
        func.lower(User.last_name) == last_name.strip().lower(),
        User.zip == zip.strip(),
    )
    found = list(ctx.db.scalars(query.limit(2)))
    who = f"{first_name} {last_name} at zip {zip!r}"
    if not found:
        raise Refusal("not_found", f"no user {who}; check them, or find the user by email")
    if len(found) > 1:
        raise Refusal("ambiguous", f"more than one user is {who}; find the user by email")
    return _authenticate(ctx, found[0])


@tool(
    "Get the user's profile, payment methods (gift card balances) and order ids.",
    {"user_id": USER_ID},
)
def get_user_details(ctx: Context, user_id: str) -> ToolResult:
    return ToolResult(True, user_dict(rules.own_user(ctx, user_id)))


@tool("List the user's orders: status, number of items, total.", {"user_id": USER_ID})
def list_user_orders(ctx: Context, user_id: str) -> ToolResult:
    orders = [
        {
            "order_id": o.id,
            "status": o.status,
            "items": len(o.items),
            "total": dollars(sum(i.price_cents for i in o.items)),
        }
        for o in rules.own_user(ctx, user_id).orders
    ]
    return ToolResult(True, {"user_id": user_id, "orders": orders})


@tool("Get an order: status, address, items, tracking, payment history.", {"order_id": ORDER_ID})
def get_order_details(ctx: Context, order_id: str) -> ToolResult:
    return ToolResult(True, order_dict(rules.own_order(ctx, order_id)))


@tool(
    "Get a product and its items (options, price, availability). Takes a product id, not an item id.",
    {"product_id": string_param("The product id, such as '6086499569'.")},
    open_=True,
)
def get_product_details(ctx: Context, product_id: str) -> ToolResult:
    product = ctx.db.get(Product, product_id.strip())
    if product is not None:
        return ToolResult(True, product_dict(product))
    item = ctx.db.get(Item, product_id.strip())
    if item is not None:
        raise Refusal(
            "not_found",
            f"{product_id!r} is an item id, of product {item.product_id} ({item.product.name}); pass that",
        )
    raise Refusal("not_found", f"no product {product_id!r}; list_all_product_types has the ids")


@tool("List the store's product types: name -> product id.", {}, open_=True)
def list_all_product_types(ctx: Context) -> ToolResult:
    rows = ctx.db.execute(select(Product.name, Product.id).order_by(Product.name)).all()
    return ToolResult(True, {"products": dict(rows)})


@tool(
    "Hand the user to a human agent, only for a request these tools cannot handle.",
    {"summary": string_param("The user's issue and what was done so far.")},
)
def transfer_to_human_agents(ctx: Context, summary: str) -> ToolResult:
    session = ctx.session
    logger.info(
        "session %s: to a human agent (%s): %s", session.session_id, session.user_id, summary
    )
    return ToolResult(True, {"transferred": True, "user_id": session.user_id, "summary": summary})
