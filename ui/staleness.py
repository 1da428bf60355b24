"""Which nodes changed since the run the canvas shows.

A node's cache key (engine.cache.node_key) hashes its type, version, canonical parameters, the keys
of what feeds it, the seed and the files it reads, and is known without running anything. A run
records the key of every node it computed or took from the cache, so a node whose key now differs
has different parameters, inputs or files than in that run: it is stale, and so is everything
downstream of it (their inputs will change, whatever their own record says).
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

from nodeloom.engine.cache import node_key
from nodeloom.engine.node import Registry
from nodeloom.engine.pipeline import Pipeline
from nodeloom.engine.planner import build_graph


def current_keys(pipeline: Pipeline, registry: Registry) -> dict[str, str | None]:
    """Each node's cache key as the runner would compute it now; None where it cannot be computed
    (an unknown type, invalid parameters, an input not connected to a keyed node, an unreadable file)."""
    graph = build_graph(pipeline)
    if not nx.is_directed_acyclic_graph(graph):
        return {}
    specs = {spec.id: spec for spec in pipeline.nodes}
    keys: dict[str, str | None] = {}
    for node_id in nx.topological_sort(graph):
        spec, incoming = specs[node_id], pipeline.incoming(node_id)
        node_type = registry.get(spec.type)
        feeds = {edge.target_port: (keys.get(edge.source), edge.source_port) for edge in incoming}
        if node_type is None or any(key is None or port is None or name is None for name, (key, port) in feeds.items()):
            keys[node_id] = None
            continue
        try:
            params = node_type.params.model_validate(spec.params).model_dump(mode="json")
            input_keys = {name: f"{key}:{port}" for name, (key, port) in feeds.items() if name is not None}
            keys[node_id] = node_key(node_type, params, input_keys, pipeline.settings.seed)
        except Exception:  # invalid parameters or a file that cannot be read: no key, so not the run's
            keys[node_id] = None
    return keys


def stale_nodes(pipeline: Pipeline, now: Mapping[str, str | None], recorded: Mapping[str, str]) -> set[str]:
    """Nodes whose key differs from the one recorded for them, and everything downstream of those."""
    changed = {node_id for node_id, key in recorded.items() if node_id in now and now[node_id] != key}
    graph = build_graph(pipeline)
    downstream = set().union(*(nx.descendants(graph, node_id) for node_id in changed)) if changed else set()
    return changed | downstream
