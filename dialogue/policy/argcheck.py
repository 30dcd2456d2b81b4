"""A tool's arguments checked against its JSON Schema, for the subset a pack's tools.json uses:
`type` (object, string, integer, number, boolean, array), `properties`, `required`,
`additionalProperties: false`, `enum`, `pattern`, `minLength`/`maxLength`,
`minimum`/`maximum`, `items` and `default`. A keyword outside the subset is refused when the
pack is loaded (`check_schema`), so a rule is never silently skipped.

`check_args(schema, args) -> str`: "" when the arguments fit, else what is wrong, for the caller.
"""

from __future__ import annotations

import re
from typing import Any

TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "string": (str,), "integer": (int,), "number": (int, float),
    "boolean": (bool,), "array": (list,),
}  # fmt: skip
KEYWORDS = {
    "type", "properties", "required", "additionalProperties", "enum", "pattern", "minLength",
    "maxLength", "minimum", "maximum", "items", "default", "description", "title", "examples",
}  # fmt: skip


def check_schema(schema: Any, where: str = "") -> str:
    """What makes `schema` unusable here ("" when nothing does)."""
    if not isinstance(schema, dict):
        return f"{where or 'the schema'} must be an object"
    unknown = sorted(set(schema) - KEYWORDS)
    if unknown:
        return (
            f"{where or 'schema'}: keyword {unknown[0]!r} is not supported; use {sorted(KEYWORDS)}"
        )
    kind = schema.get("type")
    if kind is not None and kind not in TYPES:
        return f"{where or 'schema'}: type {kind!r}; use one of {list(TYPES)}"
    if "pattern" in schema:
        try:
            re.compile(schema["pattern"])
        except re.error as e:
            return f"{where or 'schema'}: pattern {schema['pattern']!r}: {e}"
    for name, sub in schema.get("properties", {}).items():
        problem = check_schema(sub, f"{where}.{name}" if where else name)
        if problem:
            return problem
    missing = [r for r in schema.get("required", []) if r not in schema.get("properties", {})]
    if missing:
        return f"{where or 'schema'}: required {missing} not in properties"
    if "items" in schema:
        return check_schema(schema["items"], f"{where}[]")
    return ""


def check_args(schema: dict[str, Any], value: Any, where: str = "arguments") -> str:
    """What is wrong with `value` for `schema`, or ""."""
    kind = schema.get("type")
    if kind is not None:
        ok = isinstance(value, TYPES[kind]) and not (
            kind in ("integer", "number") and isinstance(value, bool)
        )
        if not ok:
            return (
                f"{where} must be {'an' if kind[0] in 'aeiou' else 'a'} {kind}, got {value!r:.60}"
            )
    if "enum" in schema and value not in schema["enum"]:
        return f"{where} must be one of {schema['enum']}, got {value!r:.60}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return f"{where} must have at least {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{where} must have at most {schema['maxLength']} characters"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"{where} must match {schema['pattern']}, got {value!r:.60}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{where} must be at least {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{where} must be at most {schema['maximum']}"
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problem = check_args(schema["items"], item, f"{where}[{i}]")
            if problem:
                return problem
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                said = props.get(key, {}).get("description", "")
                return f"missing argument {key!r}{f' ({said})' if said else ''}"
        if schema.get("additionalProperties") is False:
            unknown = sorted(set(value) - set(props))
            if unknown:
                return f"unknown argument {unknown[0]!r}; it takes {list(props)}"
        for key, item in value.items():
            if key in props:
                problem = check_args(props[key], item, key)
                if problem:
                    return problem
    return ""


def with_defaults(schema: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """`args` with each missing property that declares a default set to it."""
    defaults = {k: p["default"] for k, p in schema.get("properties", {}).items() if "default" in p}
    return {**defaults, **args}
