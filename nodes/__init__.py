"""NodeLoom's built-in nodes, one module per category (a package for the larger ones: text, metrics).
Importing this package registers them.

Registered through the `nodeloom.nodes` entry point named `builtin` (see pyproject.toml).

`WARM_IMPORTS` names the libraries these nodes load when they run and that take seconds to import: the app's run
server imports them once, before it forks each run (engine/warm_imports.py). Each must start no thread that a fork
would lose (tests/cli/test_worker.py counts them).
"""

from nodeloom.nodes import data, infer, io, metrics, models, optim, quality, text, train  # noqa: F401  (for their @node registrations)

WARM_IMPORTS = (
    "transformers.generation.utils",  # infer.generate
    "transformers.models.gpt2.modeling_gpt2",  # the GPT-2 and BERT model classes, with their base class
    "transformers.models.bert.modeling_bert",
    "transformers.models.auto.modeling_auto",
    "sklearn",  # text.safety_filter's offensive-language model is a scikit-learn model (profanity_check)
    "profanity_check",
    "rouge_score.rouge_scorer",  # metric.rouge
    "sacrebleu",  # metric.sacrebleu
)
