"""Loads the demo organisation through the public gRPC APIs, once per data folder.

Every write goes through the services' APIs with the token of the person who would make it
(HR loads the directory as an HRIS import; owners create and check in on their own goals), so
the audit trails read like a real quarter. The check-ins are recorded when the demo loads (the
API stamps each command with its own time); their notes say which week they stand for.
A marker file in the data folder makes a second start load nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from devstack.demo_feedback import FeedbackLoader
from devstack.demo_goals import organisation
from devstack.demo_org import PACE, SUGGESTED_ROLES, TENANT, Goal, Metric, Organisation
from devstack.demo_writes import Writer, check_in_plan, period_of
from northstar.directory.v1 import directory_pb2
from northstar.goals.v1 import goals_pb2
from northstar.kpi.v1 import kpi_pb2
from northstar.projections.v1 import projections_pb2

MARKER = "demo-loaded.json"
T = TypeVar("T")


def marker_path(data_dir: Path) -> Path:
    return data_dir / MARKER


def already_loaded(data_dir: Path) -> dict[str, Any] | None:
    path = marker_path(data_dir)
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


async def load_demo(host: str, base_port: int, data_dir: Path, today: date | None = None) -> str:
    """Loads the organisation unless this data folder has it; answers what happened, in words."""
    done = already_loaded(data_dir)
    if done is not None:
        return f"demo organisation already loaded on {done['loaded_at'][:10]}: nothing new"
    started = time.monotonic()
    org = organisation()
    async with Writer(host, base_port) as writer:
        loader = _Loader(writer, org, today or datetime.now(UTC).date())
        await loader.run()
    summary = {
        "tenant": TENANT,
        "loaded_at": datetime.now(UTC).isoformat(),
        "people": len(org.people),
        "teams": len(org.teams),
        "goals": len(org.goals),
        "check_ins": loader.check_ins,
        "kpis": len(org.kpis),
        "feedback": loader.feedback.feedback_given,
        # The feedback API lists no one's 1:1s or requests: their ids, for the tour and tests.
        "feedback_requests": loader.feedback.requests,
        "one_on_ones": loader.feedback.one_on_ones,
    }
    marker_path(data_dir).write_text(json.dumps(summary, indent=2) + "\n")
    return (
        f"demo organisation loaded in {time.monotonic() - started:.0f}s: {len(org.people)} "
        f"people, {len(org.teams)} teams, {len(org.goals)} goals, {loader.check_ins} "
        f"check-ins, {len(org.kpis)} KPIs, {loader.feedback.feedback_given} feedback, "
        f"{len(loader.feedback.requests)} 360s, {len(loader.feedback.one_on_ones)} 1:1 series "
        f"(tenant {TENANT})"
    )


class _Loader:
    def __init__(self, writer: Writer, org: Organisation, today: date) -> None:
        self.w, self.org = writer, org
        self.quarter_start = today - timedelta(days=70 + today.weekday())
        self.goal_ids: dict[str, str] = {}
        self.goal_tokens: dict[str, str] = {}
        self.kpi_tokens: list[str] = []
        self.check_ins = 0
        self._limit = asyncio.Semaphore(6)
        managers = {person.manager_id for person in org.people}
        roles = {
            person.person_id: "manager" if person.person_id in managers else "employee"
            for person in org.people
        }
        self.feedback = FeedbackLoader(writer, self.goal_ids, roles | SUGGESTED_ROLES, today)

    def window(self, name: str) -> tuple[str, str]:
        start = self.quarter_start
        if name == "quarter":
            return start.isoformat(), (start + timedelta(days=90)).isoformat()
        year_start = start - timedelta(weeks=13)
        if name == "year":
            return year_start.isoformat(), (year_start + timedelta(days=364)).isoformat()
        strategy_start = year_start - timedelta(days=365)
        return strategy_start.isoformat(), (strategy_start + timedelta(days=3 * 365)).isoformat()

    async def run(self) -> None:
        last_person = await self.directory()
        for level in ("strategy", "company", "team", "personal"):
            await self.each([g for g in self.org.goals if g.level == level], self.create_goal)
        await self.each(self.org.goals, self.history_of)
        await self.kpis()
        await self.feedback.run()
        await self.wait_for_projections(last_person)
        await self.feedback.wait_for_projections()

    async def each(self, items: Sequence[T], work: Callable[[T], Awaitable[None]]) -> None:
        async def limited(item: T) -> None:
            async with self._limit:
                await work(item)

        await asyncio.gather(*(limited(item) for item in items))

    async def directory(self) -> tuple[str, str]:
        hris = self.w.token("hris-import", "integration")
        for team in self.org.teams:  # departments first: a team's parent must exist
            request = directory_pb2.UpsertTeamRequest(
                team_id=team.team_id,
                name=team.name,
                parent_team_id=team.parent_team_id,
                lead_id=team.lead_id,
            )
            await self.w.directory.UpsertTeam(request, metadata=hris)
        token = ""
        for person in self.org.people:  # managers before their reports
            response = await self.w.directory.UpsertPerson(
                directory_pb2.UpsertPersonRequest(
                    person_id=person.person_id,
                    name=person.name,
                    email=f"{person.person_id}@acme.example",
                    title=person.title,
                    team_id=person.team_id,
                    manager_id=person.manager_id,
                    start_date="2021-03-01",
                ),
                metadata=hris,
            )
            token = response.position_token
        return self.org.people[-1].person_id, token

    async def create_goal(self, goal: Goal) -> None:
        start, due = self.window(goal.window)
        request = goals_pb2.CreateGoalRequest(
            title=goal.title,
            description=goal.description,
            owner_id=goal.owner_id,
            team_id=goal.team_id,
            level=getattr(goals_pb2, f"GOAL_LEVEL_{goal.level.upper()}"),
            visibility=getattr(goals_pb2, f"GOAL_VISIBILITY_{goal.visibility.upper()}"),
            start_date=start,
            due_date=due,
            parent_goal_id=self.goal_ids.get(goal.parent, ""),
            activate=True,
        )
        if goal.metric is not None:
            request.metric.CopyFrom(_metric(goal.metric))
        # Strategic objectives are HR's; everyone else writes their own goals.
        author = ("hannah.berg", "hr_admin") if goal.level == "strategy" else _author(goal)
        created = await self.w.retrying(self.w.goals.CreateGoal, request, self.w.token(*author))
        self.goal_ids[goal.key] = created.goal.id
        self.goal_tokens[goal.key] = created.position_token

    async def history_of(self, goal: Goal) -> None:
        """Key results and contributions, then a quarter of check-ins with the changes."""
        owner = self.w.token(*_author(goal))
        goal_id, stub = self.goal_ids[goal.key], self.w.goals
        response: goals_pb2.GoalCommandResponse | None = None
        key_result_ids = []
        for result in goal.key_results:
            response = await stub.AddKeyResult(
                goals_pb2.AddKeyResultRequest(
                    goal_id=goal_id, title=result.title, metric=_metric(result.metric),
                    weight=result.weight,
                ),
                metadata=owner,
            )  # fmt: skip
            key_result_ids.append(response.goal.key_results[-1].id)
        if goal.contributes_to:
            contributions = [
                goals_pb2.Contribution(goal_id=self.goal_ids[key], weight=weight)
                for key, weight in goal.contributes_to
            ]
            response = await stub.SetContributions(
                goals_pb2.SetContributionsRequest(goal_id=goal_id, contributions=contributions),
                metadata=owner,
            )
        progress, confidence = PACE[goal.pace]
        metrics: list[tuple[str, Metric | None]] = [(kr_id, result.metric) for kr_id, result in zip(
            key_result_ids, goal.key_results, strict=True)] or [("", goal.metric)]  # fmt: skip
        weeks = 10 if goal.level in ("team", "company") else 5
        for step, (week, note, share, trust) in enumerate(
            check_in_plan(goal.pace, weeks, progress, confidence), start=1
        ):
            for key_result_id, metric in metrics:
                if metric is None:
                    continue
                if goal.target_change and step > 4:
                    metric = Metric(metric.kind, metric.unit, metric.start, goal.target_change[0],
                                    metric.direction)  # fmt: skip
                response = await stub.CheckIn(
                    goals_pb2.CheckInRequest(
                        goal_id=goal_id, value=_value(metric, share, goal.pace),
                        confidence=trust, note=f"Week {week}: {note}",
                        key_result_id=key_result_id,
                    ),
                    metadata=owner,
                )  # fmt: skip
                self.check_ins += 1
            if goal.target_change and step == 4:
                new_target, reason = goal.target_change
                response = await stub.ChangeTarget(
                    goals_pb2.ChangeTargetRequest(
                        goal_id=goal_id, new_target=new_target, reason=reason
                    ),
                    metadata=owner,
                )
            if goal.due_change and step == 6:
                days, reason = goal.due_change
                due = date.fromisoformat(self.window(goal.window)[1]) + timedelta(days=days)
                response = await stub.ChangeDueDate(
                    goals_pb2.ChangeDueDateRequest(
                        goal_id=goal_id, new_due_date=due.isoformat(), reason=reason
                    ),
                    metadata=owner,
                )
        if response is not None:
            self.goal_tokens[goal.key] = response.position_token

    async def kpis(self) -> None:
        hr, feed = self.w.token("hannah.berg", "hr_admin"), self.w.token("bi-sync", "integration")
        months = [period_of(self.quarter_start, offset) for offset in (-2, -1, 0)]
        nps_scores = await self.nps_survey(months)
        for kpi in self.org.kpis:
            rising = kpi.target_type in ("increase_to", "stay_at_or_above")
            bounds = kpi_pb2.MinTargetMax(
                **({"minimum": kpi.amber} if rising else {"maximum": kpi.amber})
            )
            defined = await self.w.retrying(
                self.w.kpi.DefineKpi,
                kpi_pb2.DefineKpiRequest(
                    name=kpi.name, description=kpi.description, unit=kpi.unit,
                    owner_id=kpi.owner_id, objective_goal_id=self.goal_ids[kpi.objective],
                    target_type=getattr(kpi_pb2, f"TARGET_TYPE_{kpi.target_type.upper()}"),
                    cadence=kpi_pb2.CADENCE_MONTHLY, summary=kpi_pb2.SUMMARY_LAST,
                    visibility=getattr(kpi_pb2, f"KPI_VISIBILITY_{kpi.visibility.upper()}"),
                    first_period=months[0], target=kpi.target,
                    thresholds=kpi_pb2.Thresholds(min_target_max=bounds),
                ),
                hr,
            )  # fmt: skip
            token = defined.position_token
            values = nps_scores if kpi.from_survey else kpi.values
            for month, value in zip(months, values, strict=True):
                recorded = await self.w.kpi.RecordMeasurement(
                    kpi_pb2.RecordMeasurementRequest(
                        kpi_id=defined.kpi.kpi_id, period=month, value=value,
                        source_record_id=f"demo-{kpi.key}-{month}",
                    ),
                    metadata=feed,
                )  # fmt: skip
                token = recorded.position_token
            self.kpi_tokens.append(token)

    async def nps_survey(self, months: list[str]) -> list[float]:
        tool = self.w.token("survey-tool", "integration")
        created = await self.w.retrying(
            self.w.kpi.CreateSurvey,
            kpi_pb2.CreateSurveyRequest(
                name="Customer NPS survey", kind=kpi_pb2.SURVEY_KIND_NPS,
                cadence=kpi_pb2.CADENCE_MONTHLY, owner_id="omar.haddad",
            ),
            self.w.token("hannah.berg", "hr_admin"),
        )  # fmt: skip
        scores = []
        for month, answers in zip(months, self.org.nps_answers, strict=True):
            for number, (region, score) in enumerate(answers):
                await self.w.kpi.RecordSurveyResponse(
                    kpi_pb2.RecordSurveyResponseRequest(
                        survey_id=created.survey_id, period=month, score=score,
                        respondent_id=f"customer-{number:03d}", group=region,
                    ),
                    metadata=tool,
                )  # fmt: skip
            results = await self.w.kpi.GetSurveyResults(
                kpi_pb2.GetSurveyResultsRequest(survey_id=created.survey_id, period=month),
                metadata=tool,
            )
            scores.append(round(results.overall.score, 1))
        return scores

    async def wait_for_projections(self, last_person: tuple[str, str]) -> None:
        """Until the read models show every write: the tour starts right after `make run`."""
        reader = self.w.token("hannah.berg", "hr_admin")
        stub = self.w.projections
        # Tokens count across read models: the person's is the directory audit's.
        await self.w.until_read(
            stub.GetAlignmentTree,
            projections_pb2.GetAlignmentTreeRequest(
                consistency_tokens=[last_person[1], *self.goal_tokens.values()]
            ),
            reader,
        )
        await self.w.until_read(
            stub.ListKpiScoreboard,
            projections_pb2.ListKpiScoreboardRequest(consistency_tokens=self.kpi_tokens),
            reader,
        )


def _author(goal: Goal) -> tuple[str, str]:
    return goal.owner_id, "employee" if goal.level == "personal" else "manager"


def _metric(metric: Metric) -> goals_pb2.Metric:
    return goals_pb2.Metric(
        kind=getattr(goals_pb2, f"METRIC_KIND_{metric.kind.upper()}"),
        unit=metric.unit,
        start=metric.start,
        target=metric.target,
        direction=getattr(goals_pb2, f"METRIC_DIRECTION_{metric.direction.upper()}"),
    )


def _value(metric: Metric, share: float, pace: str) -> float:
    """The value a check-in reports when `share` of the way to the target is done."""
    span = metric.target - metric.start
    if metric.kind == "binary":
        return 1.0 if share >= 0.8 else 0.0  # the milestone is reached late in the quarter
    if metric.direction in ("stay_above", "stay_below"):
        # Guardrails stay on the good side of the target, unless the goal is in trouble late on.
        margin = abs(metric.target) * 0.02 or 1.0
        good = metric.start - metric.target or (
            margin if metric.direction == "stay_above" else -margin
        )
        breached = pace != "on_track" and share > 0.5
        return round(metric.target + good * (-0.5 if breached else 0.6 + 0.6 * (1 - share)), 2)
    value = metric.start + span * share
    return round(value) if abs(span) >= 20 else round(value, 2)
