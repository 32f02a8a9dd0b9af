"""Virtumancer's web service: a thin Falcon ASGI app over the :mod:`virtumancer` SDK."""

from __future__ import annotations

__all__: list[str] = []
