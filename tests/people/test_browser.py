"""The web pages in a real headless Chromium (Debian's chromium package, driven by Playwright),
checked against the gRPC answers the pages are built from. Screenshots are kept as artefacts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from northstar.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from northstar.goals.v1 import goals_pb2, goals_pb2_grpc
from northstar.projections.v1 import projections_pb2, projections_pb2_grpc
from northstar_cli.tree import percent, status_word
from tests.integration.conftest import bearer
from tests.people.conftest import REPO, DemoSystem, announce

pytestmark = [pytest.mark.kafka, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LENA = bearer("lena.fischer", ["manager"])
TEAM_GOAL = "Cut p95 API latency from 450 ms to 250 ms"
PERSONAL_GOAL = "Move 12 services to the new API gateway"


@pytest.fixture
def artefacts(pytestconfig: pytest.Config) -> Path:
    folder = REPO / ".cache" / "test-artefacts" / "browser" / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    announce(pytestconfig, f"browser screenshots: {folder}")
    return folder


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        yield launched
        await launched.close()


async def grpc_goal(system: DemoSystem, goal_id: str) -> goals_pb2.Goal:
    async with grpc.aio.insecure_channel(system.address(1)) as channel:
        goal: goals_pb2.Goal = await goals_pb2_grpc.GoalServiceStub(channel).GetGoal(
            goals_pb2.GetGoalRequest(goal_id=goal_id), metadata=LENA
        )
        return goal


async def grpc_history(system: DemoSystem, goal_id: str) -> list[projections_pb2.AuditEntry]:
    async with grpc.aio.insecure_channel(system.address(4)) as channel:
        history = await projections_pb2_grpc.ProjectionServiceStub(channel).GetGoalHistory(
            projections_pb2.GetGoalHistoryRequest(goal_id=goal_id, page_size=500), metadata=LENA
        )
        return list(history.entries)


async def grpc_as_of(
    system: DemoSystem, goal_id: str, instant: str
) -> projections_pb2.GoalSnapshot:
    async with grpc.aio.insecure_channel(system.address(4)) as channel:
        snapshot: projections_pb2.GoalSnapshot = await projections_pb2_grpc.ProjectionServiceStub(
            channel
        ).GetGoalAsOf(
            projections_pb2.GetGoalAsOfRequest(goal_id=goal_id, as_of=instant), metadata=LENA
        )
        return snapshot


async def log_in_as(page: Page, system: DemoSystem, person: str) -> None:
    await page.goto(f"{system.web_url}/login")
    await page.click(f"button[data-person='{person}']")
    await expect(page.locator("#who")).to_contain_text(person)


async def test_alignment_tree_goal_page_and_a_past_date_match_the_grpc_answers(
    demo_system: DemoSystem, browser: Browser, artefacts: Path
) -> None:
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    await log_in_as(page, demo_system, "lena.fischer")
    assert page.url.endswith("/alignment")
    await expect(page.locator("#orphan-count")).to_have_text("1 orphan")
    await page.screenshot(path=artefacts / "1-alignment.png", full_page=True)

    # Team goals start collapsed: expanding one shows its personal goals.
    branch = page.locator("details.node", has=page.locator(f"> summary >> text={TEAM_GOAL}"))
    child = branch.locator("a.title", has_text=PERSONAL_GOAL)
    await expect(child).to_be_hidden()
    await branch.locator("> summary .toggle").click()
    await expect(child).to_be_visible()
    await page.screenshot(path=artefacts / "2-branch-expanded.png", full_page=True)

    await branch.locator("> summary a.title").click()
    await page.wait_for_url("**/goals/*")
    goal_id = page.url.rsplit("/", 1)[1]
    goal = await grpc_goal(demo_system, goal_id)
    assert goal.title == TEAM_GOAL
    await expect(page.locator("#goal-progress")).to_have_text(percent(goal.progress))
    await expect(page.locator("#goal-status")).to_have_text(status_word(goal.status))
    await expect(page.locator("#goal-expected")).to_have_text(percent(goal.expected_progress))
    await expect(page.locator("#goal-current")).to_have_text(f"{goal.current:g}")
    await expect(page.locator("#goal-target")).to_have_text(f"{goal.metric.target:g}")
    await expect(page.locator("#goal-version")).to_have_text(str(goal.version))
    entries = await grpc_history(demo_system, goal_id)
    check_ins = [e for e in entries if e.event_type == "goals.GoalCheckedIn"]
    await expect(page.locator("#check-in-chart circle.dot")).to_have_count(len(check_ins))
    await expect(page.locator("#trail tr")).to_have_count(len(entries) + 1)
    await expect(page.locator("#verify")).to_contain_text(f"all {len(entries)} entries")
    await page.screenshot(path=artefacts / "3-goal.png", full_page=True)

    # A past instant: just after the fourth check-in (UTC, to the millisecond the field takes).
    moment = datetime.fromisoformat(check_ins[3].occurred_at).astimezone(UTC)
    moment += timedelta(microseconds=1000 - moment.microsecond % 1000)
    field_value = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    await page.fill("#as-of-at", field_value)
    await page.click("form.as-of button[type=submit]")
    await expect(page.locator("#as-of")).to_be_visible()
    snapshot = await grpc_as_of(demo_system, goal_id, f"{field_value}+00:00")
    assert snapshot.version == check_ins[3].version < goal.version
    await expect(page.locator("#as-of-version")).to_have_text(str(snapshot.version))
    await page.screenshot(path=artefacts / "4-goal-as-of.png", full_page=True)

    await page.goto(f"{demo_system.web_url}/kpis")
    await expect(page.locator("#kpis tr[data-kpi]")).to_have_count(4)  # one KPI is restricted
    await page.screenshot(path=artefacts / "5-kpis.png", full_page=True)


async def goal_id_titled(system: DemoSystem, title: str) -> str:
    async with grpc.aio.insecure_channel(system.address(4)) as channel:
        tree = await projections_pb2_grpc.ProjectionServiceStub(channel).GetAlignmentTree(
            projections_pb2.GetAlignmentTreeRequest(page_size=500), metadata=LENA
        )
    return next(node.goal_id for node in tree.nodes if node.title == title)


async def feedback_seen_by(
    system: DemoSystem, viewer: str, role: str, person: str
) -> tuple[list[feedback_pb2.Feedback], projections_pb2.FeedbackActivity]:
    who = bearer(viewer, [role])
    async with grpc.aio.insecure_channel(system.address(2)) as channel:
        received = await feedback_pb2_grpc.FeedbackServiceStub(channel).ListFeedback(
            feedback_pb2.ListFeedbackRequest(
                person_id=person, direction=feedback_pb2.FEEDBACK_DIRECTION_RECEIVED, page_size=200
            ),
            metadata=who,
        )
    async with grpc.aio.insecure_channel(system.address(4)) as channel:
        activity = await projections_pb2_grpc.ProjectionServiceStub(channel).GetFeedbackActivity(
            projections_pb2.GetFeedbackActivityRequest(person_id=person), metadata=who
        )
    return list(received.feedback), activity


async def test_a_persons_feedback_page_shows_what_the_visitor_may_see(
    demo_system: DemoSystem, browser: Browser, artefacts: Path
) -> None:
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    await log_in_as(page, demo_system, "lena.fischer")
    await page.goto(
        f"{demo_system.web_url}/goals/{await goal_id_titled(demo_system, PERSONAL_GOAL)}"
    )
    await page.click("#owner-feedback")
    await page.wait_for_url("**/people/tom.becker/feedback")
    received, activity = await feedback_seen_by(
        demo_system, "lena.fischer", "manager", "tom.becker"
    )
    rows = page.locator("#received tr[data-feedback]")
    await expect(rows).to_have_count(len(received))
    shown = [await row.get_attribute("data-feedback") for row in await rows.all()]
    assert shown == [item.feedback_id for item in received]
    # Lena's own note to self about Tom is hers to read.
    await expect(page.locator("#received tr.kind-note_to_self")).to_have_count(1)
    await expect(page.locator("#recognition li")).to_have_count(len(activity.recognition_feed))
    await expect(page.locator("#last-one-on-one")).to_have_text(activity.people[0].last_one_on_one)
    await expect(page.locator("#count-received")).to_have_text(str(activity.people[0].received))
    await page.screenshot(path=artefacts / "6-feedback.png", full_page=True)

    # A peer of Tom's: no note to self, no 1:1 dates; the service's rule, not the page's.
    await log_in_as(page, demo_system, "mei.lin")
    await page.goto(f"{demo_system.web_url}/people/tom.becker/feedback")
    peer_view, _ = await feedback_seen_by(demo_system, "mei.lin", "employee", "tom.becker")
    await expect(page.locator("#received tr[data-feedback]")).to_have_count(len(peer_view))
    await expect(page.locator("#received tr.kind-note_to_self")).to_have_count(0)
    await page.screenshot(path=artefacts / "7-feedback-as-a-peer.png", full_page=True)
    # Someone the directory does not know has no feedback page, not an empty one.
    missing = await page.goto(f"{demo_system.web_url}/people/no.such.person/feedback")
    assert missing is not None
    assert missing.status == 404

    # Check-in notes travel only in the audit export: shown to HR admins (and auditors).
    await log_in_as(page, demo_system, "hannah.berg")
    await page.goto(f"{demo_system.web_url}/goals/{await goal_id_titled(demo_system, TEAM_GOAL)}")
    await expect(page.locator("#trail em", has_text="Week 1: ")).to_have_count(1)
    await log_in_as(page, demo_system, "mei.lin")
    await page.goto(f"{demo_system.web_url}/goals/{await goal_id_titled(demo_system, TEAM_GOAL)}")
    await expect(page.locator("#trail em")).to_have_count(0)


async def test_user_text_is_shown_as_text_and_logins_need_the_csrf_token(
    demo_system: DemoSystem, browser: Browser
) -> None:
    hostile = "<img src=x id=injected onerror=alert(1)> Win <b>big</b>"
    tom = bearer("tom.becker", ["employee"])
    async with grpc.aio.insecure_channel(demo_system.address(4)) as channel:
        tree = await projections_pb2_grpc.ProjectionServiceStub(channel).GetAlignmentTree(
            projections_pb2.GetAlignmentTreeRequest(page_size=500), metadata=tom
        )
    parent = next(node.goal_id for node in tree.nodes if node.title == PERSONAL_GOAL)
    async with grpc.aio.insecure_channel(demo_system.address(1)) as channel:
        created = await goals_pb2_grpc.GoalServiceStub(channel).CreateGoal(
            goals_pb2.CreateGoalRequest(
                title=hostile, start_date="2026-01-01", activate=True, parent_goal_id=parent
            ),
            metadata=tom,
        )
    page = await browser.new_page()
    await log_in_as(page, demo_system, "tom.becker")
    await page.goto(f"{demo_system.web_url}/goals/{created.goal.id}")
    await expect(page.locator("#goal-title")).to_have_text(hostile)
    assert await page.locator("#injected").count() == 0
    # A login posted without the visitor's CSRF token (another site's form) is refused.
    refused = await page.request.post(
        f"{demo_system.web_url}/login",
        form={"person": "hannah.berg", "role": "hr_admin", "csrf": "forged"},
    )
    assert refused.status == 403
    await page.goto(f"{demo_system.web_url}/alignment")
    await expect(page.locator("#who")).to_contain_text("tom.becker")
