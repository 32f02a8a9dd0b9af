"""Thin Falcon resources: each responder parses its input and makes ONE library call."""

from __future__ import annotations

__all__: list[str] = []
