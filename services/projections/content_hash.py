"""Content hash of a read-model version: SHA-256 over every row of its tables in key order.

Tables are named by their logical name (without the version prefix) and the dedup markers are
hashed without the projection name, so two versions built from the same events hash the same
whatever their names, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from services.projections.versions import VersionTable
from services.shared.canonical import canonical_json
from services.shared.readmodel import ReadModelDatabase

BATCH = 1000


@dataclass(frozen=True)
class ContentDigest:
    version: str
    sha256: str
    row_count: int


def content_hash(
    db: ReadModelDatabase, version: str, tables: Sequence[VersionTable]
) -> ContentDigest:
    digest = hashlib.sha256()
    rows = 0
    # One transaction: a consistent snapshot even while the version keeps applying events.
    with db.snapshot() as tx:
        sources: list[tuple[str, str, tuple[str, ...]]] = [
            (table.logical, f"SELECT * FROM {table.physical} ORDER BY {table.order_by}", ())
            for table in sorted(tables, key=lambda t: t.logical)
        ]
        sources.append(
            (
                "applied_versions",
                "SELECT aggregate_id, version FROM applied_versions WHERE projection = ? "
                "ORDER BY aggregate_id",
                (version,),
            )
        )
        for logical, sql, params in sources:
            digest.update(f"table {logical}\n".encode())
            for row in tx.execute(sql, params):
                digest.update(canonical_json([_plain(value) for value in row]).encode() + b"\n")
                rows += 1
    return ContentDigest(version=version, sha256=digest.hexdigest(), row_count=rows)


def _plain(value: object) -> object:
    """Integral floats and ints hash alike: engines differ in how they return numbers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
