"""Saves that must not interleave with others of the same kind: a check, then the save, under one
lock shared by every replica writing to the store.

An aggregate sees only itself, so a rule over several aggregates (no alignment loop among a
tenant's goals) is checked by the application from what the store holds; two replicas checking
side by side could each pass and together break the rule. A save given a `SerialisedSave`
(keyword `serialised_by` of Application.save) runs its `check` inside the save's own database
transaction, after taking the lock named `lock_key`, and before its events are inserted: a
check that raises rolls the whole save back.

- PostgreSQL: a transaction-scoped advisory lock (`pg_advisory_xact_lock`) on a hash of the
  schema and the key, released by the commit or rollback of the save, so the next holder's
  check reads what the previous one committed.
- SQLite and the in-memory store serve one process (the embedded default: one file per service,
  one writer process), whose application already serialises these saves with a process lock
  around check and save; their recorders ignore the keyword.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

SERIALISED_SAVE_KWARG = "serialised_by"


@dataclass(frozen=True)
class SerialisedSave:
    """Run `check` under the store-wide lock `lock_key`, in the save's transaction."""

    lock_key: str
    check: Callable[[], None]
