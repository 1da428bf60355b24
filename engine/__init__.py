"""NodeLoom's engine: node API, pipeline format, validation, planning, caching, running, events.

Nothing here imports a user interface; the CLI and the Streamlit app are both clients.
"""

from nodeloom.engine.context import Cancelled, CancelToken, NodeError, RunContext
from nodeloom.engine.node import REGISTRY, Input, NodeParams, NodeType, Output, discover, node
from nodeloom.engine.pipeline import Edge, NodeSpec, Pipeline
from nodeloom.engine.runner import RunResult, run_pipeline
from nodeloom.engine.validation import PipelineInvalid, Problem, load_pipeline

__all__ = [
    "REGISTRY",
    "CancelToken",
    "Cancelled",
    "Edge",
    "Input",
    "NodeError",
    "NodeParams",
    "NodeSpec",
    "NodeType",
    "Output",
    "Pipeline",
    "PipelineInvalid",
    "Problem",
    "RunContext",
    "RunResult",
    "discover",
    "load_pipeline",
    "node",
    "run_pipeline",
]
