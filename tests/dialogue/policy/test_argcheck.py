"""Tool arguments against the JSON Schema subset a pack's tools.json may use."""

from __future__ import annotations

import pytest

from dialogue.policy.argcheck import check_args, check_schema, with_defaults

SCHEMA = {
    "type": "object",
    "properties": {
        "last4": {"type": "string", "pattern": "^[0-9]{4}$"},
        "reason": {"type": "string", "enum": ["lost", "stolen"], "default": "lost"},
        "note": {"type": "string", "minLength": 2, "maxLength": 5},
        "amount": {"type": "number", "minimum": 0, "maximum": 100},
        "tags": {"type": "array", "items": {"type": "string"}},
        "n": {"type": "integer"},
    },
    "required": ["last4"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({"last4": "4417"}, ""),
        ({"last4": "4417", "reason": "stolen", "note": "hi", "amount": 9.5, "tags": ["a"], "n": 3}, ""),
        ({}, "missing argument 'last4'"),
        ({"last4": "441"}, "last4 must match"),
        ({"last4": "4417", "reason": "bored"}, "reason must be one of"),
        ({"last4": "4417", "note": "x"}, "at least 2"),
        ({"last4": "4417", "note": "toolong"}, "at most 5"),
        ({"last4": "4417", "amount": 101}, "at most 100"),
        ({"last4": "4417", "amount": True}, "must be a number"),
        ({"last4": "4417", "n": 1.5}, "must be an integer"),
        ({"last4": "4417", "tags": [1]}, "tags[0] must be a string"),
        ({"last4": "4417", "pin": "1234"}, "unknown argument 'pin'"),
        ("4417", "must be an object"),
    ],
)  # fmt: skip
def test_check_args(args, problem):
    got = check_args(SCHEMA, args)
    assert (problem in got and got) if problem else got == ""


def test_defaults_fill_what_is_missing():
    assert with_defaults(SCHEMA, {"last4": "4417"}) == {"last4": "4417", "reason": "lost"}


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        (SCHEMA, ""),
        ({"type": "object", "oneOf": []}, "keyword 'oneOf' is not supported"),
        ({"type": "float"}, "type 'float'"),
        ({"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}}, "a: pattern"),
        ({"type": "object", "properties": {}, "required": ["a"]}, "required ['a'] not in properties"),
    ],
)  # fmt: skip
def test_a_schema_outside_the_subset_is_refused(schema, problem):
    got = check_schema(schema)
    assert (problem in got) if problem else got == ""
