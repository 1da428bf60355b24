"""Text nodes: cleaning, prompts, tokenizers (trained or pretrained), tokenization, embeddings and a safety filter.

One module per concern; importing this package registers every text node type.
"""

from nodeloom.nodes.text import (  # noqa: F401  (registers their nodes)
    clean,
    embeddings,
    prompt,
    safety_filter,
    tokenization,
    tokenizers,
)
