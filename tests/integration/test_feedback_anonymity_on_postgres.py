"""The strongest anonymity property of tests/unit/test_feedback_anonymity.py on PostgreSQL:
permuting answers among a perspective's reviewers changes nothing anyone observes, with the
event store, the ballot box, the index and the replica in a database of each observation's own.
The SQLite run builds about a hundred stores; here three examples (six databases) keep it to
about twenty seconds, each with one perspective at the threshold and one below it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.integration.conftest import conninfo_to_url
from tests.unit.test_feedback_anonymity import (
    PEERS,
    REPORTS,
    THRESHOLD,
    Answer,
    StoreFactory,
    answer_sets,
    observe,
    permuted_within_perspectives,
)

pytestmark = pytest.mark.postgres

FEW = settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def fresh_database(postgres_dsn: str) -> StoreFactory:
    """A new PostgreSQL database per observation, dropped after it: nothing carries over."""

    @contextmanager
    def database(_folder: Path) -> Iterator[str]:
        name = f"anon_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield conninfo_to_url(make_conninfo(postgres_dsn, dbname=name))
        finally:
            with psycopg.connect(postgres_dsn, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )

    return database


@FEW
@given(
    peers=st.dictionaries(st.sampled_from(PEERS), answer_sets, min_size=THRESHOLD),
    reports=st.dictionaries(st.sampled_from(REPORTS), answer_sets, max_size=THRESHOLD - 1),
    shift=st.integers(1, 3),
)
def test_who_gave_which_anonymous_answer_changes_nothing_anyone_observes_on_postgres(
    fresh_database: StoreFactory, peers: dict[str, Answer], reports: dict[str, Answer], shift: int
) -> None:
    # Peers at the threshold (their aggregate shows), reports below it (nothing shows).
    answers = peers | reports
    permuted = permuted_within_perspectives(answers, shift)
    assert observe(answers, fresh_database) == observe(permuted, fresh_database)
