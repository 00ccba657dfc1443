"""Fixtures for tests that run the same case on both stores (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from psycopg.conninfo import conninfo_to_dict


def conninfo_to_url(conninfo: str) -> str:
    """Our settings take store URLs; the PostgreSQL fixtures give libpq conninfo strings."""
    parts = conninfo_to_dict(conninfo)
    user = quote(str(parts.get("user", "postgres")))
    password = parts.get("password")
    credentials = f"{user}:{quote(str(password))}" if password else user
    host = parts.get("host", "127.0.0.1")
    port = parts.get("port", "5432")
    return f"postgresql://{credentials}@{host}:{port}/{parts['dbname']}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One store URL per backend: each test using it runs once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return conninfo_to_url(request.getfixturevalue("postgres_schema_dsn"))
