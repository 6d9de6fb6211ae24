"""Recursion and graphs for deep dive 07b, on a real graph: the installed distributions and their requirements.

A graph here is a mapping ``{node: [the nodes it points to]}``: for a dependency graph, a package points to the
packages it requires, so a package must come *after* everything it points to in an install order.

- :func:`dependency_graph` reads ``Requires-Dist`` of every installed distribution (importlib.metadata, offline),
  keeping only requirements that apply here (extras and other platforms' markers left out) and are installed;
- :func:`depth_recursive` and :func:`depth_iterative` walk a chain, one by recursion (bounded by
  ``sys.getrecursionlimit()``), one with an explicit stack (bounded by memory only); :func:`chain` builds one;
- :func:`bfs_levels`, :func:`dfs_order`, :func:`shortest_path`: breadth-first and depth-first walks;
- :func:`topological_order` (Kahn's algorithm, ties broken by name) and :func:`find_cycle` (the cycle itself,
  as a closed path), checked in the lesson against ``graphlib.TopologicalSorter``.
"""

from __future__ import annotations

import heapq
import re
from collections import deque
from collections.abc import Hashable, Iterable, Mapping
from importlib import metadata

__all__ = [
    "normalise", "dependency_graph", "reverse", "chain", "depth_recursive", "depth_iterative", "bfs_levels",
    "dfs_order", "shortest_path", "topological_order", "find_cycle", "CycleError",
]

Graph = Mapping[Hashable, Iterable[Hashable]]


class CycleError(ValueError):
    """The graph has a cycle, so no topological order exists; ``cycle`` is it as a closed path ``[a, b, a]``."""

    def __init__(self, cycle: list):
        super().__init__("cycle: " + " -> ".join(map(str, cycle)))
        self.cycle = cycle


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them: ``Jinja2`` and ``jinja2``, ``typing_extensions`` and
    ``typing-extensions`` are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_graph() -> dict[str, list[str]]:
    """``{distribution: sorted [installed distributions it requires here]}`` for every installed distribution.

    A requirement counts when its environment marker holds on this interpreter with no extra asked for
    (``pytest ; extra == "test"`` does not, ``tomli ; python_version < "3.11"`` only on old Pythons)."""
    from packaging.requirements import InvalidRequirement, Requirement

    dists = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            dists.setdefault(normalise(name), dist)
    graph: dict[str, list[str]] = {}
    for name, dist in dists.items():
        needs = set()
        for line in dist.requires or []:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            needed = normalise(req.name)
            if needed in dists and needed != name:
                needs.add(needed)
        graph[name] = sorted(needs)
    return graph


def reverse(graph: Graph) -> dict:
    """The same graph with every edge turned round: ``{package: sorted [packages that require it]}``."""
    out: dict = {node: [] for node in graph}
    for node, targets in graph.items():
        for target in targets:
            out.setdefault(target, []).append(node)
    return {node: sorted(sources) for node, sources in out.items()}


def chain(length: int) -> dict[int, list[int]]:
    """A chain ``0 -> 1 -> ... -> length-1``: the deepest graph of its size."""
    return {i: [i + 1] if i + 1 < length else [] for i in range(length)}


def depth_recursive(graph: Graph, node) -> int:
    """The number of nodes on the longest path from ``node``, by recursion: one Python frame per level, so a
    chain longer than ``sys.getrecursionlimit()`` raises ``RecursionError``. (Exponential on a graph with
    many shared paths: it is here to show the limit, not to be used.)"""
    return 1 + max((depth_recursive(graph, nxt) for nxt in graph.get(node, ())), default=0)


def depth_iterative(graph: Graph, node) -> int:
    """The same as :func:`depth_recursive` with an explicit stack (and each node's depth remembered), so the
    only limit is memory. Assumes no cycle."""
    depth: dict = {}
    stack = [(node, False)]
    while stack:
        current, children_done = stack.pop()
        if current in depth:
            continue
        targets = list(graph.get(current, ()))
        if children_done:
            depth[current] = 1 + max((depth[t] for t in targets), default=0)
        else:
            stack.append((current, True))
            stack.extend((t, False) for t in targets if t not in depth)
    return depth[node]


def bfs_levels(graph: Graph, start) -> list[list]:
    """The nodes reachable from ``start`` by distance: ``[[start], [its targets], [theirs], ...]``, each level
    sorted by ``str`` so the output is the same every run."""
    seen = {start}
    levels, frontier = [], [start]
    while frontier:
        levels.append(sorted(frontier, key=str))
        following = []
        for node in levels[-1]:
            for target in graph.get(node, ()):
                if target not in seen:
                    seen.add(target)
                    following.append(target)
        frontier = following
    return levels


def dfs_order(graph: Graph, start) -> list:
    """Nodes reachable from ``start`` in depth-first preorder (targets visited in sorted order), iteratively."""
    seen, order, stack = set(), [], [start]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        order.append(node)
        stack.extend(sorted(graph.get(node, ()), key=str, reverse=True))
    return order


def shortest_path(graph: Graph, start, goal) -> list | None:
    """A path with the fewest edges from ``start`` to ``goal`` (BFS), or None when there is none."""
    parent, queue = {start: None}, deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while parent[path[-1]] is not None:
                path.append(parent[path[-1]])
            return path[::-1]
        for target in sorted(graph.get(node, ()), key=str):
            if target not in parent:
                parent[target] = node
                queue.append(target)
    return None


def topological_order(graph: Graph) -> list:
    """Kahn's algorithm: every node after all the nodes it points to (dependencies first); among the nodes
    ready at once the smallest by ``str`` comes first. Raises :class:`CycleError` with a cycle when stuck."""
    nodes = set(graph) | {t for targets in graph.values() for t in targets}
    waiting = {node: set(graph.get(node, ())) for node in nodes}
    needed_by: dict = {node: [] for node in nodes}
    for node, targets in waiting.items():
        for target in targets:
            needed_by[target].append(node)
    ready = [(str(node), node) for node, targets in waiting.items() if not targets]
    heapq.heapify(ready)
    order = []
    while ready:
        _, node = heapq.heappop(ready)
        order.append(node)
        for user in needed_by[node]:
            waiting[user].discard(node)
            if not waiting[user]:
                heapq.heappush(ready, (str(user), user))
    if len(order) < len(nodes):
        raise CycleError(find_cycle(graph))
    return order


def find_cycle(graph: Graph) -> list | None:
    """A cycle as a closed path ``[a, b, ..., a]`` (each node points to the next), or None; iterative DFS
    with three colours: a target still on the current path (grey) closes a cycle."""
    white, grey, black = 0, 1, 2
    colour: dict = {}
    for root in sorted(graph, key=str):
        if colour.get(root, white) != white:
            continue
        path, stack = [], [(root, iter(sorted(graph.get(root, ()), key=str)))]
        colour[root] = grey
        path.append(root)
        while stack:
            node, targets = stack[-1]
            for target in targets:
                state = colour.get(target, white)
                if state == grey:
                    return path[path.index(target):] + [target]
                if state == white:
                    colour[target] = grey
                    path.append(target)
                    stack.append((target, iter(sorted(graph.get(target, ()), key=str))))
                    break
            else:
                colour[node] = black
                path.pop()
                stack.pop()
    return None
