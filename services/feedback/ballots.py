"""The ballot box: where anonymous answers wait until their request closes.

An anonymous answer is never an event (events are stored per person, in order, and published):
it is one row holding the perspective and the answers, under a random key, with no reviewer id
and no time. Who has answered is a separate row without the answers, written in the same
transaction, so a reviewer answers once and the two can never be joined. Nothing here is
returned by any API; at close the application reads the answer sets for the aggregates and then
deletes them, so afterwards only the aggregates exist.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from services.feedback.rules import AlreadyAnswered
from services.shared.readmodel import ReadModelDatabase

_DDL = (
    """CREATE TABLE IF NOT EXISTS ballot_cast (
        request_id TEXT NOT NULL,
        reviewer_id TEXT NOT NULL,
        PRIMARY KEY (request_id, reviewer_id)
    )""",
    """CREATE TABLE IF NOT EXISTS ballots (
        request_id TEXT NOT NULL,
        ballot_key TEXT NOT NULL,
        perspective TEXT NOT NULL,
        answers_json TEXT NOT NULL,
        PRIMARY KEY (request_id, ballot_key)
    )""",
)


class BallotBox:
    def __init__(self, db: ReadModelDatabase) -> None:
        self.db = db
        with db.transaction() as tx:
            for statement in _DDL:
                tx.execute(statement)

    def cast(
        self, request_id: str, reviewer_id: str, perspective: str, answers: Sequence[Any]
    ) -> None:
        with self.db.transaction() as tx:
            if tx.one(
                "SELECT 1 FROM ballot_cast WHERE request_id = ? AND reviewer_id = ?",
                (request_id, reviewer_id),
            ):
                raise AlreadyAnswered("you answered this request already", field="request_id")
            tx.execute(
                "INSERT INTO ballot_cast (request_id, reviewer_id) VALUES (?, ?)",
                (request_id, reviewer_id),
            )
            tx.execute(
                "INSERT INTO ballots (request_id, ballot_key, perspective, answers_json) "
                "VALUES (?, ?, ?, ?)",
                (request_id, uuid.uuid4().hex, perspective, json.dumps(list(answers))),
            )

    def has_cast(self, request_id: str, reviewer_id: str) -> bool:
        rows = self.db.read(
            "SELECT 1 FROM ballot_cast WHERE request_id = ? AND reviewer_id = ?",
            (request_id, reviewer_id),
        )
        return bool(rows)

    def answer_sets(self, request_id: str) -> dict[str, list[list[dict[str, Any]]]]:
        """The anonymous answer sets of a request by perspective (for closing only)."""
        rows = self.db.read(
            "SELECT perspective, answers_json FROM ballots WHERE request_id = ? "
            "ORDER BY ballot_key",
            (request_id,),
        )
        sets: dict[str, list[list[dict[str, Any]]]] = {}
        for perspective, answers_json in rows:
            sets.setdefault(str(perspective), []).append(json.loads(answers_json))
        return sets

    def purge(self, request_id: str) -> None:
        """Deletes the answers of a closed request; who answered stays (they cannot again)."""
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM ballots WHERE request_id = ?", (request_id,))
