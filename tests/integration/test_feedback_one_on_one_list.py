"""Listing 1:1 series (the application case behind ListOneOnOnes) on SQLite and on PostgreSQL
alike: each caller sees the series they manage or report in, HR admins the tenant's schedule
without its content, nobody a private note, nobody another tenant's series."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from services.feedback.one_on_one_cases import ListedOneOnOne
from services.feedback.one_on_ones import OneOnOne
from services.feedback.protobuf_mapping import listed_one_on_one_message
from services.shared.auth import Principal
from tests.feedback_support import FeedbackWorld, feedback_world, principal, seed


@pytest.fixture
def world(tmp_path: Path, store_url: str) -> Iterator[FeedbackWorld]:
    built = feedback_world(tmp_path, store_url=store_url)  # Monday 2 March 2026
    yield built
    built.close()


def schedule(world: FeedbackWorld, manager: Principal, report_id: str) -> OneOnOne:
    return world.app.schedule_one_on_one(
        manager, manager_id="", report_id=report_id, cadence="weekly", start_date=date(2026, 3, 3)
    )[0]


def pairs(listed: list[ListedOneOnOne]) -> list[tuple[str, str, bool]]:
    return [(i.one_on_one.manager_id, i.one_on_one.report_id, i.shared) for i in listed]


class TestListingOneOnOnesOnEitherStore:
    def test_each_caller_lists_the_series_they_may_see(self, world: FeedbackWorld) -> None:
        app = world.app
        with_recipient = schedule(world, principal("manager-1"), "recipient-1")
        schedule(world, principal("manager-1"), "peer-1")
        schedule(world, principal("recipient-1"), "report-1")
        app.add_agenda_item(principal("recipient-1"), with_recipient.id, "career plans")
        app.add_private_note(principal("manager-1"), with_recipient.id, "ask about workload")
        seed(world.replica, "globex")
        schedule(world, principal("manager-1", "globex"), "recipient-1")

        def listed(caller: Principal, person_id: str = "") -> list[tuple[str, str, bool]]:
            found, more = app.list_one_on_ones(caller, person_id, offset=0, limit=50)
            assert not more
            return pairs(found)

        assert listed(principal("manager-1")) == [
            ("manager-1", "peer-1", True),
            ("manager-1", "recipient-1", True),
        ]
        # Manager of one series, report in another: both.
        assert listed(principal("recipient-1")) == [
            ("manager-1", "recipient-1", True),
            ("recipient-1", "report-1", True),
        ]
        assert listed(principal("report-1")) == [("recipient-1", "report-1", True)]
        hr_sees = [
            ("manager-1", "peer-1", False),
            ("manager-1", "recipient-1", False),
            ("recipient-1", "report-1", False),
        ]
        assert listed(principal("hr-1")) == hr_sees
        for outsider in ("skip-1", "peer-2", "auditor-1", "integration-1"):
            assert listed(principal(outsider)) == [], outsider
        # The person filter narrows what the caller may see; it never widens it.
        assert listed(principal("hr-1"), "recipient-1") == hr_sees[1:]
        assert listed(principal("manager-1"), "recipient-1") == [("manager-1", "recipient-1", True)]
        assert listed(principal("peer-2"), "recipient-1") == []
        # Another tenant's HR admin sees its own tenant's series only.
        assert listed(principal("hr-1", "globex")) == [("manager-1", "recipient-1", False)]

        today = app.today()
        as_manager = app.list_one_on_ones(principal("manager-1"), "recipient-1", offset=0, limit=5)
        message = listed_one_on_one_message(as_manager[0][0], today)
        assert [a.text for a in message.agenda] == ["career plans"]
        assert list(message.my_notes) == []  # not even the writer's own note is listed
        as_hr = app.list_one_on_ones(principal("hr-1"), "recipient-1", offset=0, limit=5)
        hr_message = listed_one_on_one_message(as_hr[0][0], today)
        assert (list(hr_message.agenda), list(hr_message.my_notes)) == ([], [])
        assert hr_message.next_meeting == "2026-03-03"

    def test_pages_never_repeat_or_skip_a_series(self, world: FeedbackWorld) -> None:
        for report in ("giver-1", "peer-1", "peer-2", "peer-3", "recipient-1"):
            schedule(world, principal("manager-1"), report)
        seen: list[str] = []
        offset, more = 0, True
        while more:
            page, more = world.app.list_one_on_ones(
                principal("manager-1"), "", offset=offset, limit=2
            )
            assert len(page) == 2 or not more
            seen += [item.one_on_one.report_id for item in page]
            offset += len(page)
        assert seen == ["giver-1", "peer-1", "peer-2", "peer-3", "recipient-1"]
