"""The JSON-schema descriptions that the retail tools' parameters are made of."""

from __future__ import annotations

from typing import Any


def string_param(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def strings_param(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "description": description}


ORDER_ID = string_param("The order id, such as '#W0000000' (the '#' may be left out).")
USER_ID = string_param("The user id, such as 'sara_doe_496'; must be the authenticated user's.")
ITEM_IDS = strings_param(
    "The item ids in the order, such as '1008292230'; an id twice for two of it."
)
NEW_ITEM_IDS = strings_param(
    "For each item, in the same order, another option of the same product."
)
PAYMENT_ID = string_param("A payment method id of the user, such as 'gift_card_0000000'.")
ADDRESS = {
    "address1": string_param("The first line of the address, such as '123 Main St'."),
    "address2": string_param("The second line, such as 'Apt 1', or ''."),
    "city": string_param("The city, such as 'San Francisco'."),
    "state": string_param("The state, such as 'CA'."),
    "country": string_param("The country, such as 'USA'."),
    "zip": string_param("The zip code, such as '12345'."),
}
