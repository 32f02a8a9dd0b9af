"""PostgreSQL engines carry a connect timeout and a statement timeout."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from virtumancer.db.engine import create_database_engine


@pytest.mark.postgres
def test_postgresql_engine_has_statement_and_connect_timeouts(postgres_url: str) -> None:
    engine = create_database_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "30s"
            dsn = conn.connection.dbapi_connection.info.dsn  # type: ignore[union-attr]
        assert "connect_timeout=10" in dsn
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_statement_timeout_in_the_url_wins(postgres_url: str) -> None:
    separator = "&" if "?" in postgres_url else "?"
    engine = create_database_engine(f"{postgres_url}{separator}options=-c%20statement_timeout%3D5s")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "5s"
    finally:
        engine.dispose()
