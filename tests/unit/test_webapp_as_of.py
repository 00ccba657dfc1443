"""The goal page's "as of" field: what it asks the projections service for."""

from __future__ import annotations

from webapp.pages import as_of_instant


def test_a_datetime_local_value_is_read_as_utc() -> None:
    assert as_of_instant("2026-03-01T09:30") == "2026-03-01T09:30:00+00:00"
    assert as_of_instant("2026-03-01T10:30+01:00") == "2026-03-01T09:30:00+00:00"


def test_a_value_that_is_no_date_and_time_is_passed_on_for_the_service_to_refuse() -> None:
    # An empty value would ask for nothing and the page would show today's goal without a word.
    assert as_of_instant("yesterday") == "yesterday"
