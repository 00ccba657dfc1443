"""The demo organisation `make run` loads on first start: Acme, 60 people in 8 teams.

Pure data, dated relative to the day it is loaded: the quarter started ten weeks ago, so every
goal has a quarter of check-ins behind it. The story: Product & Engineering is on track,
Go-to-Market is behind (Marketing off track, Sales at risk after its target was raised),
People & Operations is fine, and one payroll goal in Finance is the orphan nobody aligned.
"""

# ruff: noqa: E501 (data tables read best one row per line)

from __future__ import annotations

from dataclasses import dataclass, field

TENANT = "acme"
# Who to log in as (README, web login page): person id -> suggested role.
SUGGESTED_ROLES = {
    "alex.morgan": "manager",
    "lena.fischer": "manager",
    "tom.becker": "employee",
    "hannah.berg": "hr_admin",
    "ines.carvalho": "auditor",
}

# How far each goal has come by today, and how confident its owner is.
ON_TRACK, AT_RISK, OFF_TRACK = "on_track", "at_risk", "off_track"
PACE = {ON_TRACK: (0.86, 0.8), AT_RISK: (0.62, 0.45), OFF_TRACK: (0.38, 0.25)}


@dataclass(frozen=True)
class Team:
    team_id: str
    name: str
    parent_team_id: str
    lead_id: str


@dataclass(frozen=True)
class Person:
    person_id: str
    name: str
    title: str
    team_id: str
    manager_id: str


@dataclass(frozen=True)
class Metric:
    kind: str  # number, percentage, currency, binary
    unit: str
    start: float
    target: float
    direction: str = "increase"  # increase, decrease, stay_above, stay_below


@dataclass(frozen=True)
class KeyResult:
    title: str
    metric: Metric
    weight: float = 1.0


@dataclass(frozen=True)
class Goal:
    key: str
    title: str
    level: str  # strategy, company, team, personal
    owner_id: str
    team_id: str
    parent: str  # key of the parent goal; "" for none
    window: str  # "strategy", "year" or "quarter"
    metric: Metric | None = None
    key_results: tuple[KeyResult, ...] = ()
    pace: str = ON_TRACK
    visibility: str = "public"
    description: str = ""
    contributes_to: tuple[tuple[str, float], ...] = ()
    # (new target, reason) applied after the fourth check-in.
    target_change: tuple[float, str] | None = None
    # (days to move the due date by, reason).
    due_change: tuple[int, str] | None = None


@dataclass(frozen=True)
class Kpi:
    key: str
    name: str
    description: str
    unit: str
    owner_id: str
    objective: str  # goal key
    target_type: str  # increase_to, decrease_to, stay_at_or_above, stay_at_or_below
    target: float
    amber: float  # the amber floor (rising KPIs) or ceiling (falling ones)
    values: tuple[float, ...]  # one per month, the oldest first; NPS comes from the survey
    visibility: str = "tenant"
    from_survey: bool = False


@dataclass(frozen=True)
class Organisation:
    teams: list[Team]
    people: list[Person]
    goals: list[Goal]
    kpis: list[Kpi]
    # Customer NPS survey answers per month (oldest first): (region, score) pairs.
    nps_answers: list[list[tuple[str, int]]] = field(default_factory=list)


DEPARTMENTS = [
    Team("dept-product", "Product & Engineering", "", "sofia.marin"),
    Team("dept-gtm", "Go-to-Market", "", "daniel.okafor"),
    Team("dept-ops", "People & Operations", "", "grace.lindqvist"),
]
# team id, name, department, lead (id, name, title), members as (id, name, title).
_TEAMS = [
    ("team-platform", "Platform", "dept-product", ("lena.fischer", "Lena Fischer", "Platform Lead"),
     [("tom.becker", "Tom Becker", "Backend Engineer"), ("aisha.khan", "Aisha Khan", "SRE"),
      ("jonas.weber", "Jonas Weber", "Backend Engineer"), ("mei.lin", "Mei Lin", "SRE"),
      ("pedro.alves", "Pedro Alves", "Backend Engineer"), ("sara.nilsson", "Sara Nilsson", "QA Engineer")]),
    ("team-mobile", "Mobile Apps", "dept-product", ("ravi.patel", "Ravi Patel", "Mobile Lead"),
     [("emma.schulz", "Emma Schulz", "iOS Engineer"), ("liam.byrne", "Liam Byrne", "Android Engineer"),
      ("nora.haugen", "Nora Haugen", "Product Designer"), ("kenji.mori", "Kenji Mori", "iOS Engineer"),
      ("olivia.grant", "Olivia Grant", "Android Engineer"), ("felix.roth", "Felix Roth", "QA Engineer")]),
    ("team-data", "Data & AI", "dept-product", ("yuki.tanaka", "Yuki Tanaka", "Data Lead"),
     [("amir.sadeghi", "Amir Sadeghi", "Data Scientist"), ("clara.moreau", "Clara Moreau", "ML Engineer"),
      ("ben.carter", "Ben Carter", "Data Engineer"), ("priya.nair", "Priya Nair", "Data Scientist"),
      ("lucas.silva", "Lucas Silva", "Analytics Engineer"), ("zoe.adams", "Zoe Adams", "Data Engineer")]),
    ("team-sales", "Sales", "dept-gtm", ("marco.rossi", "Marco Rossi", "Head of Sales"),
     [("julia.kowalski", "Julia Kowalski", "Account Executive"), ("sam.taylor", "Sam Taylor", "Account Executive"),
      ("leila.haddad", "Leila Haddad", "Sales Engineer"), ("noah.fischer", "Noah Fischer", "SDR"),
      ("isabel.garcia", "Isabel Garcia", "Account Executive"), ("tariq.aziz", "Tariq Aziz", "SDR")]),
    ("team-marketing", "Marketing", "dept-gtm", ("chloe.dubois", "Chloe Dubois", "Marketing Lead"),
     [("ethan.wright", "Ethan Wright", "Content Marketer"), ("mia.jensen", "Mia Jensen", "Demand Generation"),
      ("hugo.laurent", "Hugo Laurent", "Product Marketer"), ("ana.popescu", "Ana Popescu", "Designer"),
      ("ryan.oconnor", "Ryan O'Connor", "Events Manager"), ("lea.martin", "Lea Martin", "SEO Specialist")]),
    ("team-success", "Customer Success", "dept-gtm", ("omar.haddad", "Omar Haddad", "Customer Success Lead"),
     [("fatima.zahra", "Fatima Zahra", "Success Manager"), ("david.kim", "David Kim", "Support Engineer"),
      ("elena.petrova", "Elena Petrova", "Success Manager"), ("george.mills", "George Mills", "Support Engineer"),
      ("sofie.larsen", "Sofie Larsen", "Onboarding Specialist"), ("max.keller", "Max Keller", "Support Engineer")]),
    ("team-people", "People", "dept-ops", ("hannah.berg", "Hannah Berg", "HR Lead"),
     [("lucy.evans", "Lucy Evans", "HR Partner"), ("oscar.lund", "Oscar Lund", "Recruiter"),
      ("rosa.santos", "Rosa Santos", "HR Partner"), ("adam.novak", "Adam Novak", "Recruiter"),
      ("maya.cohen", "Maya Cohen", "L&D Specialist"), ("kofi.mensah", "Kofi Mensah", "HR Operations")]),
    ("team-finance", "Finance", "dept-ops", ("victor.nguyen", "Victor Nguyen", "Finance Lead"),
     [("ines.carvalho", "Ines Carvalho", "Internal Auditor"), ("paul.meyer", "Paul Meyer", "Accountant"),
      ("ella.brown", "Ella Brown", "FP&A Analyst"), ("igor.volkov", "Igor Volkov", "Accountant"),
      ("nina.horvat", "Nina Horvat", "Controller"), ("will.turner", "Will Turner", "Payroll Specialist")]),
]  # fmt: skip
_LEADERS = [
    Person("alex.morgan", "Alex Morgan", "Chief Executive Officer", "dept-ops", ""),
    Person("sofia.marin", "Sofia Marin", "Chief Technology Officer", "dept-product", "alex.morgan"),
    Person("daniel.okafor", "Daniel Okafor", "Chief Revenue Officer", "dept-gtm", "alex.morgan"),
    Person(
        "grace.lindqvist", "Grace Lindqvist", "Chief Operating Officer", "dept-ops", "alex.morgan"
    ),
]


def people_and_teams() -> tuple[list[Team], list[Person]]:
    heads = {team.team_id: team.lead_id for team in DEPARTMENTS}
    teams, people = list(DEPARTMENTS), list(_LEADERS)
    for team_id, name, department, (lead_id, lead_name, lead_title), members in _TEAMS:
        teams.append(Team(team_id, name, department, lead_id))
        people.append(Person(lead_id, lead_name, lead_title, team_id, heads[department]))
        people.extend(
            Person(pid, pname, ptitle, team_id, lead_id) for pid, pname, ptitle in members
        )
    return teams, people
