"""Untrusted input checks shared by REST and the WebSockets: JSON documents and path values.

stdlib ``json`` turns a document nested thousands deep into a ``RecursionError`` and an
integer of more than 4,300 digits into a bare ``ValueError``; a NUL in a name reaches
libvirt and SQLite as "embedded null byte". Each is the client's fault, so each becomes
:class:`~virtumancer.InvalidInputError` (a 400, or an ``error`` reply on ``/ws``) here,
before any library call.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

import falcon
import falcon.asgi

from virtumancer import InvalidInputError

__all__ = [
    "MAX_INT_DIGITS",
    "MAX_JSON_DEPTH",
    "PathParamsMiddleware",
    "check_text",
    "decode_json",
]

#: Deepest nesting of arrays/objects accepted in a JSON document.
MAX_JSON_DEPTH: Final = 64
#: Longest integer literal accepted in a JSON document (no field needs more than 64 bits).
MAX_INT_DIGITS: Final = 40
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def _parse_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise _TooBigError(f"an integer has more than {MAX_INT_DIGITS} digits")
    return int(literal)


def _parse_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _TooBigError(f"the number {literal[:20]}... is out of range")
    return value


def _parse_constant(name: str) -> float:
    raise _TooBigError(f"{name} is not JSON")


class _TooBigError(ValueError):
    pass


def _depth_exceeds(document: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def decode_json(raw: str | bytes, *, what: str = "the request body", field: str = "body") -> Any:
    """Return the JSON document in ``raw``, or raise :class:`InvalidInputError` naming ``field``.

    Refuses invalid JSON and UTF-8, nesting deeper than :data:`MAX_JSON_DEPTH`, integers
    longer than :data:`MAX_INT_DIGITS` digits, numbers out of a float's range and
    ``NaN``/``Infinity``.
    """
    try:
        document = json.loads(
            raw, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
        )
    except RecursionError:
        document = None
        too_deep = True
    except _TooBigError as exc:
        raise InvalidInputError(f"{what} is refused: {exc}", field=field) from None
    except (UnicodeDecodeError, ValueError) as exc:
        # JSONDecodeError is a ValueError; so is int()'s own digit limit.
        raise InvalidInputError(f"{what} is not valid JSON: {exc}", field=field) from None
    else:
        too_deep = _depth_exceeds(document, MAX_JSON_DEPTH)
    if too_deep:
        raise InvalidInputError(
            f"{what} is nested deeper than {MAX_JSON_DEPTH} levels", field=field
        )
    return document


def check_text(value: str, field: str) -> str:
    """Return ``value`` unless it holds a control character (NUL, newline...); else 400."""
    match = _CONTROL.search(value)
    if match is not None:
        raise InvalidInputError(
            f"{field} must not contain control characters (found {match.group()!r})",
            field=field,
        )
    return value


class PathParamsMiddleware:
    """Refuse control characters in any path parameter (``%00`` in a VM name...) with a 400.

    Runs for HTTP routes and WebSocket upgrades (the consoles take a host id and VM name).
    """

    def _check(self, params: dict[str, Any]) -> None:
        for name, value in params.items():
            if isinstance(value, str):
                check_text(value, name)

    async def process_resource(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        resource: object,
        params: dict[str, Any],
    ) -> None:
        self._check(params)

    async def process_resource_ws(
        self,
        req: falcon.asgi.Request,
        ws: falcon.asgi.WebSocket,
        resource: object,
        params: dict[str, Any],
    ) -> None:
        self._check(params)
