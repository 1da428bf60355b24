"""What the tests share, in one place: the checkout's paths, and the modules below.

- engine_nodes: small node types in a registry of their own, recording their calls, and a chain pipeline.
- graph_strategies: hypothesis strategies for arbitrary JSON and random pipeline graphs.
- tiny_models: tiny tokenizers, datasets and model configs, and helpers to run real nodes on them.
- store_nodes: a seeded training node for the store, CLI and serve tests, and `nodeloom` with it registered.
- pipelines: small pipelines several test modules build on.
- browser: the real app on a free port, and the Chromium helpers the browser tests drive it with.

Subprocesses import these by name (`from tests.support.store_nodes import REGISTRY`), with the checkout as their
working folder or on PYTHONPATH.
"""

from __future__ import annotations

from pathlib import Path

# tests/support/__init__.py: the checkout is two folders up, whichever subfolder the test that asks lives in.
REPO = Path(__file__).resolve().parent.parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
