"""The demo organisation's goals and KPIs (see devstack/demo_org.py for the people and story)."""

# ruff: noqa: E501 (data tables read best one row per line)

from __future__ import annotations

from devstack.demo_org import (
    AT_RISK,
    OFF_TRACK,
    ON_TRACK,
    Goal,
    KeyResult,
    Kpi,
    Metric,
    Organisation,
    people_and_teams,
)

NUMBER, PERCENT, MONEY = "number", "percentage", "currency"

STRATEGY = [
    Goal("win-mid-market", "Win the mid-market", "strategy", "alex.morgan", "", "", "strategy",
         description="Become the first choice of companies with 200 to 2,000 employees."),
    Goal("delight-customers", "Delight our customers", "strategy", "alex.morgan", "", "", "strategy",
         description="Customers recommend us because the product just works."),
    Goal("great-place", "Be a great place to work", "strategy", "alex.morgan", "", "", "strategy",
         description="People join, grow and stay."),
]  # fmt: skip

COMPANY = [
    Goal("arr", "Grow annual recurring revenue to 40 M EUR", "company", "daniel.okafor",
         "dept-gtm", "win-mid-market", "year", Metric(MONEY, "EUR", 28_000_000, 40_000_000),
         pace=AT_RISK),
    Goal("nps", "Raise customer NPS from 32 to 50", "company", "sofia.marin", "dept-product",
         "delight-customers", "year", Metric(NUMBER, "NPS", 32, 50)),
    Goal("availability", "Keep platform availability at or above 99.9 %", "company",
         "sofia.marin", "dept-product", "delight-customers", "year",
         Metric(PERCENT, "%", 99.95, 99.9, "stay_above")),
    Goal("attrition", "Cut regretted attrition from 12 % to 8 %", "company", "grace.lindqvist",
         "dept-ops", "great-place", "year", Metric(PERCENT, "%", 12, 8, "decrease")),
]  # fmt: skip

TEAM = [
    Goal("latency", "Cut p95 API latency from 450 ms to 250 ms", "team", "lena.fischer",
         "team-platform", "nps", "quarter", Metric(NUMBER, "ms", 450, 250, "decrease")),
    Goal("offline", "Ship offline mode to every mobile user", "team", "ravi.patel", "team-mobile",
         "nps", "quarter", pace=AT_RISK,
         key_results=(KeyResult("Users on offline mode", Metric(NUMBER, "users", 0, 20_000), 2),
                      KeyResult("Crash-free sessions stay at or above 99.5 %",
                                Metric(PERCENT, "%", 99.7, 99.5, "stay_above"))),
         due_change=(14, "App store review of the offline build takes two weeks longer")),
    Goal("churn-model", "Predict churn for 80 % of accounts", "team", "yuki.tanaka", "team-data",
         "nps", "quarter", Metric(PERCENT, "%", 0, 80), contributes_to=(("arr", 0.5),)),
    Goal("new-business", "Close 3.2 M EUR of new business", "team", "marco.rossi", "team-sales",
         "arr", "quarter", Metric(MONEY, "EUR", 0, 3_000_000), pace=AT_RISK,
         target_change=(3_200_000, "The board raised the quarter's bar after the January "
                                   "pipeline review")),
    Goal("leads", "Generate 1,200 qualified leads", "team", "chloe.dubois", "team-marketing",
         "arr", "quarter", Metric(NUMBER, "leads", 0, 1200), pace=OFF_TRACK),
    Goal("churn", "Reduce monthly churn from 2.5 % to 1.5 %", "team", "omar.haddad",
         "team-success", "nps", "quarter", Metric(PERCENT, "%", 2.5, 1.5, "decrease")),
    Goal("engagement", "Reach 85 % participation in the engagement survey", "team",
         "hannah.berg", "team-people", "attrition", "quarter", Metric(PERCENT, "%", 0, 85)),
    Goal("close-books", "Close the books within 5 working days", "team", "victor.nguyen",
         "team-finance", "win-mid-market", "quarter", Metric(NUMBER, "days", 9, 5, "decrease"),
         visibility="team"),
]  # fmt: skip

# Per team: the parent goal key and each member's goal (title, metric, pace), in member order.
_PERSONAL: dict[str, tuple[str, list[tuple[str, Metric, str]]]] = {
    "team-platform": ("latency", [
        ("Move 12 services to the new API gateway", Metric(NUMBER, "services", 0, 12), ON_TRACK),
        ("Keep on-call pages at or below 5 a week", Metric(NUMBER, "pages", 4, 5, "stay_below"), ON_TRACK),
        ("Cache the 20 slowest endpoints", Metric(NUMBER, "endpoints", 0, 20), ON_TRACK),
        ("Cut database p95 from 120 ms to 60 ms", Metric(NUMBER, "ms", 120, 60, "decrease"), AT_RISK),
        ("Remove 30 N+1 queries", Metric(NUMBER, "queries", 0, 30), ON_TRACK),
        ("Automate 200 regression tests", Metric(NUMBER, "tests", 0, 200), ON_TRACK),
    ]),
    "team-mobile": ("offline", [
        ("Build the iOS offline store", Metric(PERCENT, "%", 0, 100), AT_RISK),
        ("Build the Android offline store", Metric(PERCENT, "%", 0, 100), OFF_TRACK),
        ("Design 15 offline states", Metric(NUMBER, "screens", 0, 15), ON_TRACK),
        ("Sync conflicts below 1 in 1,000", Metric(NUMBER, "per 1000", 8, 1, "decrease"), AT_RISK),
        ("Shrink the Android app from 60 MB to 40 MB", Metric(NUMBER, "MB", 60, 40, "decrease"), ON_TRACK),
        ("Run 10 offline beta test sessions", Metric(NUMBER, "sessions", 0, 10), AT_RISK),
    ]),
    "team-data": ("churn-model", [
        ("Reach 0.80 AUC on the churn model", Metric(NUMBER, "AUC", 0.6, 0.8), ON_TRACK),
        ("Serve churn scores daily", Metric(PERCENT, "%", 0, 100), ON_TRACK),
        ("Load 3 years of usage events", Metric(NUMBER, "months", 0, 36), ON_TRACK),
        ("Explain the top 10 churn drivers", Metric(NUMBER, "drivers", 0, 10), ON_TRACK),
        ("Build the account health dashboard", Metric(PERCENT, "%", 0, 100), AT_RISK),
        ("Cut pipeline failures from 20 to 2 a month", Metric(NUMBER, "failures", 20, 2, "decrease"), ON_TRACK),
    ]),
    "team-sales": ("new-business", [
        ("Close 600 k EUR of new business", Metric(MONEY, "EUR", 0, 600_000), AT_RISK),
        ("Close 600 k EUR of new business", Metric(MONEY, "EUR", 0, 600_000), ON_TRACK),
        ("Run 40 technical demos", Metric(NUMBER, "demos", 0, 40), ON_TRACK),
        ("Book 90 first meetings", Metric(NUMBER, "meetings", 0, 90), OFF_TRACK),
        ("Close 500 k EUR of new business", Metric(MONEY, "EUR", 0, 500_000), AT_RISK),
        ("Book 90 first meetings", Metric(NUMBER, "meetings", 0, 90), AT_RISK),
    ]),
    "team-marketing": ("leads", [
        ("Publish 24 articles", Metric(NUMBER, "articles", 0, 24), ON_TRACK),
        ("Bring in 500 leads from paid campaigns", Metric(NUMBER, "leads", 0, 500), OFF_TRACK),
        ("Launch 3 product pages", Metric(NUMBER, "pages", 0, 3), AT_RISK),
        ("Redesign the website's pricing page", Metric(PERCENT, "%", 0, 100), ON_TRACK),
        ("Bring in 300 leads from events", Metric(NUMBER, "leads", 0, 300), OFF_TRACK),
        ("Grow organic visits from 40 k to 60 k a month", Metric(NUMBER, "visits", 40_000, 60_000), AT_RISK),
    ]),
    "team-success": ("churn", [
        ("Hold 60 account reviews", Metric(NUMBER, "reviews", 0, 60), ON_TRACK),
        ("Answer tickets in under 4 hours", Metric(NUMBER, "hours", 9, 4, "decrease"), ON_TRACK),
        ("Save 15 at-risk accounts", Metric(NUMBER, "accounts", 0, 15), ON_TRACK),
        ("Keep the support backlog at or below 50", Metric(NUMBER, "tickets", 40, 50, "stay_below"), ON_TRACK),
        ("Onboard 45 new customers", Metric(NUMBER, "customers", 0, 45), AT_RISK),
        ("Write 30 help centre articles", Metric(NUMBER, "articles", 0, 30), ON_TRACK),
    ]),
    "team-people": ("engagement", [
        ("Run 8 team engagement workshops", Metric(NUMBER, "workshops", 0, 8), ON_TRACK),
        ("Hire 10 engineers", Metric(NUMBER, "hires", 0, 10), AT_RISK),
        ("Roll out the new career framework", Metric(PERCENT, "%", 0, 100), ON_TRACK),
        ("Cut time to hire from 45 to 30 days", Metric(NUMBER, "days", 45, 30, "decrease"), ON_TRACK),
        ("Train 40 managers in feedback", Metric(NUMBER, "managers", 0, 40), ON_TRACK),
        ("Move payroll data to the new HRIS", Metric(PERCENT, "%", 0, 100), ON_TRACK),
    ]),
    "team-finance": ("close-books", [
        ("Audit 12 revenue controls", Metric(NUMBER, "controls", 0, 12), ON_TRACK),
        ("Automate 8 reconciliations", Metric(NUMBER, "reconciliations", 0, 8), ON_TRACK),
        ("Publish the rolling forecast monthly", Metric(NUMBER, "forecasts", 0, 3), ON_TRACK),
        ("Clear 150 open invoices", Metric(NUMBER, "invoices", 0, 150), AT_RISK),
        ("Cut month-end adjustments from 40 to 10", Metric(NUMBER, "adjustments", 40, 10, "decrease"), ON_TRACK),
        ("Pass the payroll audit", Metric("binary", "", 0, 1), ON_TRACK),
    ]),
}  # fmt: skip
ORPHAN_OWNER = "will.turner"
# A private goal: only its owner, their managers, HR admins and auditors see it.
PRIVATE_GOAL_OWNER = "tom.becker"
PRIVATE_GOAL = ("Prepare for the cloud architect certification", Metric(NUMBER, "modules", 0, 8))

KPIS = [
    Kpi("customer-nps", "Customer NPS", "Net Promoter Score of the monthly customer survey.",
        "NPS", "omar.haddad", "delight-customers", "increase_to", 50, 35, (), from_survey=True),
    Kpi("monthly-churn", "Monthly churn", "Share of customers who cancel in the month.", "%",
        "omar.haddad", "delight-customers", "decrease_to", 1.5, 2.2, (2.4, 2.1, 1.9)),
    Kpi("availability", "Platform availability", "Share of minutes the API answered.", "%",
        "lena.fischer", "delight-customers", "stay_at_or_above", 99.9, 99.5, (99.97, 99.82, 99.95)),
    Kpi("qualified-leads", "Qualified leads", "Marketing-qualified leads in the month.", "leads",
        "chloe.dubois", "win-mid-market", "increase_to", 400, 300, (310, 280, 260)),
    Kpi("regretted-attrition", "Regretted attrition", "Regretted leavers in the last 12 months.",
        "%", "hannah.berg", "great-place", "decrease_to", 8, 10, (11.5, 11.0, 10.4),
        visibility="restricted"),
]  # fmt: skip


def _nps_answers() -> list[list[tuple[str, int]]]:
    """Three months of 30 answers each, NPS rising from about 30 to about 43."""
    months = []
    for promoters, detractors in ((13, 4), (15, 4), (16, 3)):
        scores = [9, 10] * 20
        answers = [*scores[:promoters], *([7, 8] * 20)[: 30 - promoters - detractors]]
        answers += [3, 5, 6, 4][:detractors]
        regions = ("EMEA", "Americas", "APAC")
        months.append([(regions[i % 3], score) for i, score in enumerate(answers)])
    return months


def personal_goals() -> list[Goal]:
    teams, people = people_and_teams()
    lead_of = {team.team_id: team.lead_id for team in teams}
    goals: list[Goal] = []
    for team_id, (parent, plans) in _PERSONAL.items():
        members = [p for p in people if p.team_id == team_id and p.person_id != lead_of[team_id]]
        for person, (title, metric, pace) in zip(members, plans, strict=True):
            visibility = "team" if team_id == "team-finance" else "public"
            # The orphan: set up before the quarter's team goals and never aligned; public, so
            # everyone sees what is not aligned.
            orphan = person.person_id == ORPHAN_OWNER
            aligned_under = "" if orphan else parent
            visibility = "public" if orphan else visibility
            goals.append(
                Goal(f"personal-{person.person_id}", title, "personal", person.person_id,
                     team_id, aligned_under, "quarter", metric, pace=pace, visibility=visibility)
            )  # fmt: skip
    title, metric = PRIVATE_GOAL
    goals.append(
        Goal("private-certification", title, "personal", PRIVATE_GOAL_OWNER, "team-platform",
             "great-place",
             "quarter", metric, visibility="private")
    )  # fmt: skip
    return goals


def organisation() -> Organisation:
    teams, people = people_and_teams()
    goals = [*STRATEGY, *COMPANY, *TEAM, *personal_goals()]
    return Organisation(teams, people, goals, KPIS, _nps_answers())
