"""Clever's official Swagger 2.0 spec, read at test time, turned into JSON Schema for jsonschema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SPEC_FILE = Path(__file__).resolve().parents[2] / "shared" / "clever-spec" / "v3.1-client.yml"


def to_json_schema(node: Any, strict: bool) -> Any:
    """Swagger 2.0 schema -> JSON Schema: x-nullable allows null, objects are closed.

    Parts of an allOf and a discriminator base stay open: each sees only some of the properties.
    """
    if isinstance(node, list):
        return [to_json_schema(item, strict) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v, strict and k != "allOf") for k, v in node.items()
           if not k.startswith("x-") and k != "discriminator"}
    if "$ref" in out:
        out = {"$ref": out["$ref"]}
    elif strict and "properties" in out and "discriminator" not in node:
        out.setdefault("additionalProperties", False)
    if node.get("x-nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out
