"""Settings: the persisted metrics settings and the ones the running services use."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs

from virtumancer.db import DbSession
from virtumancer.db import settings as db_settings
from virtumancer.db.database import Database
from virtumancer.exceptions import ConflictError
from virtumancer.models.settings import MetricsSettings

__all__ = ["SettingsService"]


class SettingsService:
    """Read and merge the persisted settings; hand the running services their values.

    ``stats_interval`` (a process option) overrides the persisted ``stats_interval_seconds``
    for this process only: :meth:`runtime_metrics_settings` shows the value in use.
    """

    def __init__(self, *, stats_interval: float | None = None) -> None:
        if stats_interval is not None:
            MetricsSettings(stats_interval_seconds=stats_interval)  # InvalidInputError early
        self.stats_interval = stats_interval
        self._database: Database | None = None
        self._current = MetricsSettings()
        #: Called after each change is stored (fleet mode tells the other replicas).
        self.on_change: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"<SettingsService {self._current!r}>"

    @property
    def database(self) -> Database:
        """The database the settings are kept in (:class:`ConflictError` before :meth:`load`)."""
        if self._database is None:
            raise ConflictError("the settings are not loaded (use `async with Virtumancer`)")
        return self._database

    async def load(self, database: Database) -> None:
        """Read the persisted settings from ``database`` (on start); use it from now on."""
        self._current = await database.run(db_settings.get_metrics_settings)
        self._database = database

    async def get_metrics_settings(self) -> MetricsSettings:
        """Return the persisted metrics settings."""
        return await self.database.run(db_settings.get_metrics_settings)

    async def update_metrics_settings(self, changes: Mapping[str, object]) -> MetricsSettings:
        """Merge ``changes`` into the persisted settings (:class:`InvalidInputError`)."""

        def write(session: DbSession) -> MetricsSettings:
            merged = db_settings.get_metrics_settings(session).merged(changes)
            db_settings.save_metrics_settings(session, merged)
            return merged

        self._current = await self.database.run(write)
        if self.on_change is not None:
            self.on_change()
        return self._current

    async def reload(self) -> None:
        """Read the persisted settings again (another replica changed them)."""
        self._current = await self.database.run(db_settings.get_metrics_settings)

    async def runtime_metrics_settings(self) -> MetricsSettings:
        """Return the settings the running services use (with ``stats_interval`` applied)."""
        settings = self._current
        if self.stats_interval is not None:
            settings = attrs.evolve(settings, stats_interval_seconds=self.stats_interval)
        return settings
