"""The store tests' training node (tests/support/store_nodes.py) is what they rely on: seeded, and reporting."""

from __future__ import annotations

from tests.support.store_nodes import REGISTRY, train_pipeline


def test_training_node_is_seeded_and_reports_every_step():
    from nodeloom.engine.runner import run_pipeline
    from nodeloom.engine.validation import load_pipeline

    def curve(seed: int) -> list[float]:
        seen: list[float] = []
        pipeline = load_pipeline(train_pipeline(steps=20, seed=seed), registry=REGISTRY)
        run_pipeline(
            pipeline,
            registry=REGISTRY,
            use_cache=False,
            listeners=[lambda e: seen.append(e.values["loss"]) if e.kind == "progress" else None],
        )
        return seen

    first = curve(7)
    assert len(first) == 20 and first[-1] < first[0]
    assert curve(7) == first
    assert curve(8) != first
