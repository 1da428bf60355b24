"""NodeLoom's built-in nodes, one module per category (a package for the larger ones: text, metrics).
Importing this package registers them.

Registered through the `nodeloom.nodes` entry point named `builtin` (see pyproject.toml).
"""

from nodeloom.nodes import data, infer, io, metrics, models, optim, quality, text, train  # noqa: F401  (for their @node registrations)
