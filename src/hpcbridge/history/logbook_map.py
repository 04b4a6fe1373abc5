"""The logbook seen as a whole: which entries link which (`#id`), as a tree and as a graph, and the run names
an `@` in the editor can complete to."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import select

from .db import Database
from .logbook import ENTRY_REF
from .schema import logbook
from .schema import runs as runs_table

MAX_NODES = 300  # the newest entries; an older part of the map is reached through its links' pages
MAX_SUGGESTIONS = 10


@dataclass(frozen=True)
class Node:
    id: int
    title: str
    project: str
    x: float = 0.0  # the graph's layout, in a 0..1000 square
    y: float = 0.0
    children: list[Node] = field(default_factory=list)


@dataclass(frozen=True)
class Map:
    nodes: list[Node]  # every entry shown, by id
    edges: list[tuple[int, int]]  # (from, to): `from`'s body names `#to`
    roots: list[Node]  # the tree: an entry hangs under the first earlier entry it names


def entry_map(db: Database, project: str = "") -> Map:
    query = select(logbook.c.id, logbook.c.title, logbook.c.project, logbook.c.body)
    if project:
        query = query.where(logbook.c.project == project)
    with db.connect() as conn:
        rows = list(conn.execute(query.order_by(logbook.c.id.desc()).limit(MAX_NODES)))
    rows.reverse()
    count = len(rows)
    # the graph: nodes on a circle in id order (no layout library; readable for the few dozen a project has)
    nodes = {r.id: Node(r.id, r.title, r.project,
                        500 + 420 * math.cos(2 * math.pi * i / max(count, 1) - math.pi / 2),
                        500 + 420 * math.sin(2 * math.pi * i / max(count, 1) - math.pi / 2))
             for i, r in enumerate(rows)}
    edges: list[tuple[int, int]] = []
    parent: dict[int, int] = {}
    for r in rows:
        for target in dict.fromkeys(int(m) for m in ENTRY_REF.findall(r.body)):
            if target in nodes and target != r.id:
                edges.append((r.id, target))
                if target < r.id and r.id not in parent:  # earlier entries only: the tree has no cycle
                    parent[r.id] = target
    roots: list[Node] = []
    for node_id, node in nodes.items():
        (nodes[parent[node_id]].children if node_id in parent else roots).append(node)
    return Map(list(nodes.values()), edges, roots)


def run_names(db: Database, prefix: str) -> list[str]:
    """Recorded run names starting with `prefix` (the editor's `@` completion), newest first."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with db.connect() as conn:
        rows = conn.execute(select(runs_table.c.name, runs_table.c.created)
                            .where(runs_table.c.name.like(escaped + "%", escape="\\"))
                            .order_by(runs_table.c.created.desc()).limit(MAX_SUGGESTIONS * 5))
        return list(dict.fromkeys(r.name for r in rows))[:MAX_SUGGESTIONS]
