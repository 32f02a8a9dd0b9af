"""JSON Schema from the attrs models: a small walker over attrs fields and type hints.

The models are frozen attrs classes unstructured by :func:`virtumancer.make_converter`; the
walker reads the same classes, so a field added to a model shows up in the document. What
the converter reshapes is taken from the converter's own tables
(:data:`virtumancer.converters.RENAMED_FIELDS`) or, for the two device types it flattens and
nests by hand, from :data:`SHAPES` below. Field metadata under the ``"openapi"`` key adds JSON
Schema keywords (``description``, ``pattern``, ``minimum``, ``x-unit``...); an ``enum`` given
there as a Python enum class becomes a reference to that enum's schema.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Final, Union

import attrs

from virtumancer import (
    COMPUTED_FIELDS,
    DISK_KINDS,
    RENAMED_FIELDS,
    Disk,
    Interface,
    StatusCategory,
    TopologyLayout,
)
from virtumancer_server.requests import SCHEMA, DomainUuid

__all__ = ["SHAPES", "TAGS", "Schema", "SchemaBuilder", "ref"]

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    """Return a reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str) -> Schema:
    return {"type": [kind, "null"]}


def _object(props: dict[str, Schema], required: Sequence[str] | None = None) -> Schema:
    return {
        "type": "object",
        "required": list(props if required is None else required),
        "properties": props,
    }


_TEXT: Final = _nullable("string")

#: The JSON of types the converter builds by hand (see ``converters._disk_hooks``).
SHAPES: Final[Mapping[type, Schema]] = {
    Disk: _object(
        {
            "type": {"type": "string"},
            "device": {"type": "string"},
            "driver": _object({"driver_name": _TEXT, "type": _TEXT}),
            "path": _TEXT,
            "source": _object({"pool": _TEXT, "volume": _TEXT, "protocol": _TEXT, "name": _TEXT}),
            "target": _object({"dev": _TEXT, "bus": _TEXT}),
            "read_only": {"type": "boolean"},
            "shareable": {"type": "boolean"},
            "serial": _TEXT,
            "size_bytes": {**_nullable("integer"), "x-unit": "bytes"},
        }
    ),
    Interface: _object(
        {
            "type": {"type": "string"},
            "mac": _object({"address": _TEXT}),
            "source": _object(
                {"network": _TEXT, "bridge": _TEXT, "portgroup": _TEXT, "dev": _TEXT}
            ),
            "model": _object({"model_type": _TEXT}),
            "target": _object({"dev": _TEXT}),
            "vlan_tags": {"type": "array", "items": {"type": "integer"}},
            "alias": _TEXT,
        }
    ),
}

#: Tagged variants: class -> (tag property, tag value), from the spec converter's own table.
TAGS: Final[Mapping[type, tuple[str, str]]] = {
    cls: ("kind", tag) for tag, cls in DISK_KINDS.items()
}

_NUMBER: Final = {"type": "number"}
_STATUS: Final = {"type": "string", "enum": [status.value for status in StatusCategory]}
_COUNTS: Final = _object(
    {"total": {"type": "integer"}, **{s.value: {"type": "integer"} for s in StatusCategory}}
)
_NODE: Final = _object(
    {
        "id": {"type": "string"},
        "host_id": {"type": "string"},
        "label": {"type": "string"},
        "status": _STATUS,
        "color": {"type": "string", "pattern": "^#[0-9a-f]{6}$"},
        **{key: _NUMBER for key in ("x", "y", "r", "label_x", "label_y")},
        "label_anchor": {"type": "string"},
    }
)
#: ``converters.topology_payload``: everything the browser draws, computed by the server.
TOPOLOGY_SHAPE: Final = _object(
    {
        "width": _NUMBER,
        "height": _NUMBER,
        "hosts": {"type": "array", "items": _NODE},
        "vms": {"type": "array", "items": _NODE},
        "links": {
            "type": "array",
            "items": _object({"source": {"type": "string"}, "target": {"type": "string"}}),
        },
        "summary": _object({"hosts": _COUNTS, "vms": _COUNTS}),
        "legend": {
            "type": "array",
            "items": _object(
                {"status": _STATUS, "label": {"type": "string"}, "color": {"type": "string"}}
            ),
        },
    }
)

_SCALARS: Final[Mapping[type, Schema]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    dt.datetime: {"type": "string", "format": "date-time"},
    DomainUuid: {"type": "string", "format": "uuid"},
    type(None): {"type": "null"},
}


class SchemaBuilder:
    """Collect component schemas while turning types into JSON Schema."""

    def __init__(self) -> None:
        self.components: dict[str, Schema] = {}

    def enum(self, cls: type[enum.Enum]) -> Schema:
        """Return a reference to ``cls``'s schema (its values), registering it once."""
        if cls.__name__ not in self.components:
            values = [member.value for member in cls]
            kind = "integer" if all(isinstance(v, int) for v in values) else "string"
            schema: Schema = {"type": kind, "enum": values}
            if cls.__doc__:
                schema["description"] = _first_paragraph(cls.__doc__)
            if kind == "integer":
                schema["x-enum-varnames"] = [member.name for member in cls]
            self.components[cls.__name__] = schema
        return ref(cls.__name__)

    def of(self, tp: Any) -> Schema:
        """Return the schema of ``tp`` (a class, ``X | None``, ``list[X]``, ``tuple[X, ...]``)."""
        if tp is Any or tp is object:
            return {}
        if tp in _SCALARS:
            return dict(_SCALARS[tp])
        origin = typing.get_origin(tp)
        if origin in (Union, types.UnionType):
            return self._union(typing.get_args(tp))
        if origin in (list, tuple, Sequence, set, frozenset):
            return {"type": "array", "items": self.of(typing.get_args(tp)[0])}
        if origin in (dict, Mapping) or tp in (dict, Mapping):
            return {"type": "object"}
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return self.enum(tp)
        if isinstance(tp, type) and attrs.has(tp):
            return self.model(tp)
        raise TypeError(f"no JSON Schema for {tp!r}")

    def model(self, cls: type) -> Schema:
        """Return a reference to the attrs class ``cls``'s schema, registering it once."""
        name = cls.__name__
        if name not in self.components:
            self.components[name] = {}  # a placeholder, for recursive types
            self.components[name] = self._model_schema(cls)
        return ref(name)

    def _model_schema(self, cls: type) -> Schema:
        if cls in SHAPES:
            return dict(SHAPES[cls])
        if cls is TopologyLayout:
            return dict(TOPOLOGY_SHAPE)
        body = getattr(cls, "__body_schema__", None)
        if body is not None:  # a request whose body is another model (a VM spec)
            return self._model_schema(body)
        hints = typing.get_type_hints(cls)
        renamed = RENAMED_FIELDS.get(cls, {})
        properties: dict[str, Schema] = {}
        required: list[str] = []
        if cls in TAGS:
            tag_key, tag = TAGS[cls]
            properties[tag_key] = {"type": "string", "const": tag}
            required.append(tag_key)
        for field in attrs.fields(cls):
            key = renamed.get(field.name, field.name)
            schema = self.of(hints[field.name])
            extra = dict(field.metadata.get(SCHEMA, {}))
            choices = extra.pop("enum", None)
            if isinstance(choices, type) and issubclass(choices, enum.Enum):
                schema = self.enum(choices)
            elif choices is not None:
                extra["enum"] = choices
            # OpenAPI 3.1 (JSON Schema 2020-12) lets keywords sit beside a ``$ref``.
            schema = {**schema, **extra}
            properties[key] = schema
            if field.default is attrs.NOTHING:
                required.append(key)
        for key, tp in COMPUTED_FIELDS.get(cls, {}).items():
            properties[key] = self.of(tp)
            required.append(key)
        result: Schema = {"type": "object", "properties": properties}
        if required:
            result["required"] = required
        if cls.__doc__:
            result["description"] = _first_paragraph(cls.__doc__)
        return result

    def _union(self, args: tuple[Any, ...]) -> Schema:
        members = [arg for arg in args if getattr(arg, "__name__", "") != "_Unset"]
        nullable = type(None) in members
        members = [arg for arg in members if arg is not type(None)]
        if len(members) == 1:
            inner = self.of(members[0])
            if not nullable:
                return inner
            if isinstance(inner.get("type"), str):
                return {**inner, "type": [inner["type"], "null"]}
            return {"anyOf": [inner, {"type": "null"}]}
        options = [self.of(arg) for arg in members]
        if not nullable and all(arg in TAGS for arg in members):
            (tag_key,) = {TAGS[arg][0] for arg in members}
            return {
                "oneOf": options,
                "discriminator": {
                    "propertyName": tag_key,
                    "mapping": {
                        TAGS[arg][1]: option["$ref"]
                        for arg, option in zip(members, options, strict=True)
                    },
                },
            }
        if nullable:
            options.append({"type": "null"})
        return {"anyOf": options}


def _first_paragraph(doc: str) -> str:
    return " ".join(doc.strip().split("\n\n", 1)[0].split())
