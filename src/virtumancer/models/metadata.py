"""Virtumancer's own ``<metadata>`` element: provenance of domains it manages."""

from __future__ import annotations

import datetime as dt

import attrs

__all__ = ["METADATA_NAMESPACE", "METADATA_PREFIX", "VirtumancerMetadata"]

#: The XML namespace of our element inside a domain's ``<metadata>``.
METADATA_NAMESPACE = "https://virtumancer.dev/xmlns/domain/1"
#: The prefix libvirt stores our element under (``virDomain.setMetadata`` key).
METADATA_PREFIX = "virtumancer"


@attrs.frozen(kw_only=True)
class VirtumancerMetadata:
    """Who manages a domain and since when.

    ``imported_at`` is a timezone-aware UTC datetime.
    """

    managed_by: str
    imported_at: dt.datetime
    imported_by: str | None = None
    version: str
