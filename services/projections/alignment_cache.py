"""Each tenant's linked goal graph and tree shape, kept between queries and brought up to date by
what changed, so a query costs its page, not the tenant's size.

A cached graph is checked against the store before every use (one aggregate over the tenant's
covering index, `tenant_fingerprint`). When the store moved on, only the goals whose row version
changed are read again:

- if none of what places a goal or decides how it rolls up changed (links, title, level, own
  measure present or not, measured by it or not), the changed goals and their ancestors, and
  nothing else, get their progress from their children again (bottom up, with the contracts'
  `weighted_progress`, the rule `rollup_progress` applies) and their status;
- otherwise (a new goal, a new link, a loop somewhere in the tenant, another day), the whole
  graph is linked again from the nodes in memory, as `link_graph` does on a fresh read.

A published graph is never changed afterwards: an update copies the dictionary and the nodes it
touches, so queries running on other threads keep a consistent graph.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from northstar_contracts.progress import clip_unit, require_finite, weighted_progress
from services.projections.alignment import (
    GoalNode,
    children_links,
    link_nodes,
    read_nodes,
    read_versions,
    settle_status,
    tenant_fingerprint,
)
from services.projections.alignment_shape import (
    IndexedListing,
    TreeShape,
    indexed,
    tree_listing,
    tree_shape,
)
from services.shared.goal_visibility import GoalAudience
from services.shared.readmodel import ReadModelDatabase

Links = dict[UUID, list[tuple[UUID, float]]]

DEFAULT_CACHED_TENANTS = 64
"""How many (table, tenant) graphs one process keeps (least recently used dropped first)."""


@dataclass(frozen=True)
class Audiences:
    """Each goal's audience (the facts visibility depends on) as an index into `distinct`: a
    tenant has far fewer audiences than goals, so the rule is asked once per audience."""

    distinct: list[GoalAudience]
    index_of: dict[UUID, int]

    @classmethod
    def of(cls, nodes: Iterable[GoalNode]) -> Audiences:
        numbers: dict[GoalAudience, int] = {}
        index_of = {
            node.goal_id: numbers.setdefault(audience(node), len(numbers)) for node in nodes
        }
        return cls(list(numbers), index_of)


def audience(node: GoalNode) -> GoalAudience:
    return GoalAudience(node.tenant_id, node.owner_id, node.team_id, node.visibility)


@dataclass(frozen=True)
class TenantGraph:
    """A tenant's linked goals as of `fingerprint`, for `today`'s statuses, with the whole tree's
    listing and each listed node's audience number."""

    nodes: dict[UUID, GoalNode]
    shape: TreeShape
    fingerprint: tuple[int, int]
    today: date
    children_of: Links
    parents_of: Links
    has_loop: bool
    listing: IndexedListing
    audiences: Audiences
    listed_audiences: list[int]
    position: dict[UUID, int]
    """Each goal's index in `listing`."""
    row_versions: dict[str, int]
    """Each goal's row version, by the id as the store writes it."""
    statuses_by_audience: list[Counter[str]]
    """By audience number: how many goals of that audience have each status, kept up to date
    with the goals, so a whole-tree query counts statuses per audience, not per goal."""


def _listed(
    nodes: dict[UUID, GoalNode], shape: TreeShape
) -> tuple[
    IndexedListing, Audiences, list[int], dict[UUID, int], dict[str, int], list[Counter[str]]
]:
    listing = indexed(tree_listing(nodes, shape, None))
    audiences = Audiences.of(nodes.values())
    return (
        listing,
        audiences,
        [audiences.index_of[node.goal_id] for node in listing.nodes],
        {node.goal_id: index for index, node in enumerate(listing.nodes)},
        {str(goal_id): node.version for goal_id, node in nodes.items()},
        statuses_by_audience(nodes.values(), audiences),
    )


def statuses_by_audience(nodes: Iterable[GoalNode], audiences: Audiences) -> list[Counter[str]]:
    """How many of `nodes` have each status, by audience number (from scratch)."""
    counts: list[Counter[str]] = [Counter() for _ in audiences.distinct]
    for node in nodes:
        counts[audiences.index_of[node.goal_id]][node.status] += 1
    return counts


def _placement(node: GoalNode) -> tuple[object, ...]:
    """What decides where a goal sits and whether it rolls up from its children."""
    return (
        node.parent_goal_id,
        tuple(node.contributes_to),
        node.title,
        node.level,
        node.measured_by_own,
        node.own_progress is None,
    )


def link_tenant(
    nodes: dict[UUID, GoalNode], fingerprint: tuple[int, int], today: date
) -> TenantGraph:
    """A graph linked from scratch (the nodes are filled in place)."""
    children_of = children_links(nodes)
    ignored = link_nodes(nodes, children_of, today)
    parents_of: Links = {}
    for parent, children in children_of.items():
        for child, weight in children:
            parents_of.setdefault(child, []).append((parent, weight))
    shape = tree_shape(nodes)
    return TenantGraph(
        nodes,
        shape,
        fingerprint,
        today,
        children_of,
        parents_of,
        bool(ignored),
        *_listed(nodes, shape),
    )


def updated(
    graph: TenantGraph, changed: Mapping[UUID, GoalNode], fingerprint: tuple[int, int]
) -> TenantGraph:
    """`graph` with the `changed` goals' new rows (unlinked nodes), `graph` left as it was."""
    if graph.has_loop or any(
        goal_id not in graph.nodes or _placement(graph.nodes[goal_id]) != _placement(node)
        for goal_id, node in changed.items()
    ):
        nodes = {goal_id: copy.copy(node) for goal_id, node in graph.nodes.items()}
        nodes.update(changed)
        ordered = dict(sorted(nodes.items(), key=lambda item: str(item[0])))
        return link_tenant(ordered, fingerprint, graph.today)
    nodes = dict(graph.nodes)
    for goal_id, node in changed.items():
        node.child_links = graph.nodes[goal_id].child_links
        nodes[goal_id] = node
    touched = _bottom_up(_with_ancestors(changed, graph.parents_of), graph.children_of)
    for goal_id in touched:
        node = nodes[goal_id]
        if goal_id not in changed:
            node = nodes[goal_id] = copy.copy(node)
        node.progress = _progress(node, nodes, graph.children_of.get(goal_id, []))
        settle_status(node, graph.today)
    listed = list(graph.listing.nodes)
    for goal_id in touched:
        listed[graph.position[goal_id]] = nodes[goal_id]
    listing = IndexedListing(listed, graph.listing.depths, graph.listing.parents)
    row_versions = dict(graph.row_versions)
    row_versions.update((str(goal_id), node.version) for goal_id, node in changed.items())
    audiences = graph.audiences
    if any(
        audience(node) != audiences.distinct[audiences.index_of[g]] for g, node in changed.items()
    ):
        audiences = Audiences.of(nodes.values())
        statuses = statuses_by_audience(nodes.values(), audiences)
    else:
        statuses = _recounted(graph, nodes, touched)
    return TenantGraph(
        nodes,
        graph.shape,
        fingerprint,
        graph.today,
        graph.children_of,
        graph.parents_of,
        graph.has_loop,
        listing,
        audiences,
        [audiences.index_of[node.goal_id] for node in listing.nodes]
        if audiences is not graph.audiences
        else graph.listed_audiences,
        graph.position,
        row_versions,
        statuses,
    )


def _recounted(
    graph: TenantGraph, nodes: Mapping[UUID, GoalNode], touched: Iterable[UUID]
) -> list[Counter[str]]:
    """`graph`'s status counts with the `touched` goals' statuses moved from their old to their
    new count (every goal kept its audience); only the counters that change are copied."""
    counts = list(graph.statuses_by_audience)
    copied: set[int] = set()
    for goal_id in touched:
        before, after = graph.nodes[goal_id].status, nodes[goal_id].status
        if before == after:
            continue
        number = graph.audiences.index_of[goal_id]
        if number not in copied:
            counts[number] = Counter(counts[number])
            copied.add(number)
        counts[number][before] -= 1
        counts[number][after] += 1
    return counts


def _progress(
    node: GoalNode, nodes: Mapping[UUID, GoalNode], children: Sequence[tuple[UUID, float]]
) -> float:
    """One goal's roll-up from its children's, as `rollup_progress` computes it in a graph
    without loops."""
    if children and not (node.measured_by_own and node.own_progress is not None):
        return weighted_progress([(nodes[child].progress, weight) for child, weight in children])
    own = 0.0 if node.own_progress is None else node.own_progress
    return clip_unit(require_finite(own, "own_progress"))


def _with_ancestors(
    goal_ids: Iterable[UUID], parents_of: Mapping[UUID, Sequence[tuple[UUID, float]]]
) -> set[UUID]:
    found = set(goal_ids)
    frontier = deque(found)
    while frontier:
        for parent, _ in parents_of.get(frontier.popleft(), ()):
            if parent not in found:
                found.add(parent)
                frontier.append(parent)
    return found


def _bottom_up(
    goal_ids: set[UUID], children_of: Mapping[UUID, Sequence[tuple[UUID, float]]]
) -> list[UUID]:
    """`goal_ids` with every goal after all of its children among them (the graph has no loop)."""
    waiting = {g: sum(1 for c, _ in children_of.get(g, ()) if c in goal_ids) for g in goal_ids}
    parents: dict[UUID, list[UUID]] = {}
    for goal_id in goal_ids:
        for child, _ in children_of.get(goal_id, ()):
            if child in goal_ids:
                parents.setdefault(child, []).append(goal_id)
    ready = deque(g for g, count in waiting.items() if count == 0)
    order: list[UUID] = []
    while ready:
        goal_id = ready.popleft()
        order.append(goal_id)
        for parent in parents.get(goal_id, ()):
            waiting[parent] -= 1
            if waiting[parent] == 0:
                ready.append(parent)
    return order


class TenantGraphs:
    """The cache of one process: thread-safe, one refresh at a time per tenant."""

    def __init__(self, db: ReadModelDatabase, capacity: int = DEFAULT_CACHED_TENANTS) -> None:
        self.db = db
        self.capacity = capacity
        self._graphs: OrderedDict[tuple[str, str], TenantGraph] = OrderedDict()
        self._lock = threading.Lock()
        self._refreshing: dict[tuple[str, str], threading.Lock] = {}

    def graph(self, table: str, tenant_id: str, today: date) -> TenantGraph:
        """The tenant's graph as the store holds it now (after anything committed before)."""
        key = (table, tenant_id)
        with self.db.snapshot() as tx:
            fingerprint = tenant_fingerprint(tx, table, tenant_id)
        cached = self._cached(key)
        if cached is not None and cached.fingerprint == fingerprint and cached.today == today:
            return cached
        with self._lock:
            refreshing = self._refreshing.setdefault(key, threading.Lock())
        with refreshing:
            graph = self._refresh(table, tenant_id, today, self._cached(key))
            with self._lock:
                self._graphs[key] = graph
                self._graphs.move_to_end(key)
                while len(self._graphs) > self.capacity:
                    dropped, _ = self._graphs.popitem(last=False)
                    self._refreshing.pop(dropped, None)
        return graph

    def _cached(self, key: tuple[str, str]) -> TenantGraph | None:
        with self._lock:
            graph = self._graphs.get(key)
            if graph is not None:
                self._graphs.move_to_end(key)
            return graph

    def _refresh(
        self, table: str, tenant_id: str, today: date, cached: TenantGraph | None
    ) -> TenantGraph:
        # The fingerprint is read first: if rows move on during the reads, the graph holds
        # newer rows than its fingerprint says, and the next query reads them again (never
        # the reverse, which would keep a stale graph).
        with self.db.snapshot() as tx:
            fingerprint = tenant_fingerprint(tx, table, tenant_id)
            if cached is not None and cached.fingerprint == fingerprint and cached.today == today:
                return cached  # another query brought it up to date meanwhile
            changed: dict[UUID, GoalNode] | None = None
            if cached is not None:
                versions = read_versions(tx, table, tenant_id)
                known = cached.row_versions
                stale = [g for g, version in versions.items() if known.get(g) != version]
                changed = read_nodes(tx, table, tenant_id, stale) if stale else {}
                if len(versions) < len(known):
                    changed = None  # rows went away: not something a version does
            if changed is None or cached is None or cached.today != today:
                fresh = read_nodes(tx, table, tenant_id)
        if changed is None or cached is None or cached.today != today:
            return link_tenant(fresh, fingerprint, today)
        return updated(cached, changed, fingerprint)
