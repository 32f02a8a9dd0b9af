"""Metrics settings: how the UI smooths and shows live statistics, and the sampling interval."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

import attrs

from virtumancer.exceptions import InvalidInputError

__all__ = [
    "CPU_SMOOTHING_WINDOW_RANGE",
    "CPU_VIEWS",
    "MEMORY_DISPLAY_UNITS",
    "STATS_INTERVAL_RANGE",
    "MetricsSettings",
]

#: Allowed ``cpu_smoothing_window`` (number of samples), inclusive.
CPU_SMOOTHING_WINDOW_RANGE: Final = (1, 300)
#: Allowed ``memory_display_unit`` words.
MEMORY_DISPLAY_UNITS: Final = ("B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB")
#: Allowed ``default_cpu_view`` words.
CPU_VIEWS: Final = ("percentage", "cores", "time")
#: Allowed ``stats_interval_seconds``, inclusive.
STATS_INTERVAL_RANGE: Final = (0.5, 3600.0)


def _shown(value: object) -> str:
    """Show a rejected value as the JSON client sent it (true, null), not as Python."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value) if not isinstance(value, float) else str(value)


def _check_window(_inst: object, _attr: object, value: object) -> None:
    low, high = CPU_SMOOTHING_WINDOW_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInputError(
            f"cpu_smoothing_window must be an integer from {low} to {high}, got {_shown(value)}",
            field="cpu_smoothing_window",
        )


def _check_unit(_inst: object, _attr: object, value: object) -> None:
    if value not in MEMORY_DISPLAY_UNITS:
        raise InvalidInputError(
            f"memory_display_unit must be one of {', '.join(MEMORY_DISPLAY_UNITS)}, "
            f"got {_shown(value)}",
            field="memory_display_unit",
        )


def _check_view(_inst: object, _attr: object, value: object) -> None:
    if value not in CPU_VIEWS:
        raise InvalidInputError(
            f"default_cpu_view must be one of {', '.join(CPU_VIEWS)}, got {_shown(value)}",
            field="default_cpu_view",
        )


def _check_interval(_inst: object, _attr: object, value: object) -> None:
    low, high = STATS_INTERVAL_RANGE
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise InvalidInputError(
            f"stats_interval_seconds must be a number from {low} to {high}, got {_shown(value)}",
            field="stats_interval_seconds",
        )


def _schema(**keywords: object) -> dict[str, object]:
    return {"openapi": keywords}


def _to_float(value: object) -> object:
    # ints are fine for an interval; keep anything else as-is so the validator names it.
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


@attrs.frozen(kw_only=True)
class MetricsSettings:
    """Persisted metrics settings; every field is validated on construction.

    Invalid values raise :class:`~virtumancer.exceptions.InvalidInputError` whose ``field``
    names the offending setting.
    """

    # ``metadata["openapi"]`` carries the same limits to the OpenAPI document.
    cpu_smoothing_window: int = attrs.field(
        default=10,
        validator=_check_window,
        metadata=_schema(
            minimum=CPU_SMOOTHING_WINDOW_RANGE[0], maximum=CPU_SMOOTHING_WINDOW_RANGE[1]
        ),
    )
    memory_display_unit: str = attrs.field(
        default="GB", validator=_check_unit, metadata=_schema(enum=list(MEMORY_DISPLAY_UNITS))
    )
    default_cpu_view: str = attrs.field(
        default="percentage", validator=_check_view, metadata=_schema(enum=list(CPU_VIEWS))
    )
    stats_interval_seconds: float = attrs.field(
        default=2.0,
        converter=_to_float,
        validator=_check_interval,
        metadata=_schema(
            minimum=STATS_INTERVAL_RANGE[0], maximum=STATS_INTERVAL_RANGE[1], **{"x-unit": "s"}
        ),
    )

    def merged(self, changes: Mapping[str, object]) -> MetricsSettings:
        """Return these settings with ``changes`` applied (a partial update), validated.

        Unknown keys raise :class:`InvalidInputError` naming the key.
        """
        if not isinstance(changes, Mapping):
            raise InvalidInputError("settings must be a JSON object", field="body")
        known = {field.name for field in attrs.fields(MetricsSettings)}
        for key in changes:
            if key not in known:
                raise InvalidInputError(f"unknown metrics setting {key!r}", field=str(key))
        values: dict[str, Any] = dict(changes)
        return attrs.evolve(self, **values)
