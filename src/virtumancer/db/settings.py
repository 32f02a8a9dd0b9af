"""The settings repository: persisted metrics settings.

Synchronous functions over one session, run by :class:`~virtumancer.db.Database` in threads.
"""

from __future__ import annotations

import json

import attrs
from sqlalchemy.orm import Session

from virtumancer.db._rows import set_changed
from virtumancer.db.schema import SettingRow
from virtumancer.exceptions import InvalidInputError
from virtumancer.models.settings import MetricsSettings

__all__ = ["get_metrics_settings", "save_metrics_settings"]


_METRICS_KEY = "metrics"


def get_metrics_settings(session: Session) -> MetricsSettings:
    """Return the stored metrics settings (defaults for anything never stored)."""
    row = session.get(SettingRow, _METRICS_KEY)
    if row is None:
        return MetricsSettings()
    stored = json.loads(row.value)
    known = {field.name for field in attrs.fields(MetricsSettings)}
    try:
        return MetricsSettings().merged({k: v for k, v in stored.items() if k in known})
    except InvalidInputError:
        # A value stored by an older version that is no longer valid: fall back to defaults.
        return MetricsSettings()


def save_metrics_settings(session: Session, settings: MetricsSettings) -> bool:
    """Store the metrics settings; return whether anything changed."""
    value = json.dumps(attrs.asdict(settings), sort_keys=True)
    row = session.get(SettingRow, _METRICS_KEY)
    if row is None:
        session.add(SettingRow(key=_METRICS_KEY, value=value))
        return True
    return set_changed(row, value=value)
