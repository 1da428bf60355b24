"""Metric nodes: scores computed by the reference libraries themselves.

Every node reads a dataset with a prediction and a reference column (a text reference may be
one string or a list of strings) and returns a METRICS dict: its top-level numbers are what a
run reports; `example_scores` (one score per row, in row order) and `worst_examples` (the
lowest-scoring rows, with their prediction and reference) feed the previews.

One module per family of metrics; importing this package registers every metric node type.
"""

from nodeloom.nodes.metrics import classification, evaluate, overlap, perplexity  # noqa: F401  (registers their nodes)
