"""Text nodes: cleaning, prompts, tokenizers (trained or pretrained), tokenization and embeddings.

One module per concern; importing this package registers every text node type.
"""

from nodeloom.nodes.text import clean, embeddings, prompt, tokenization, tokenizers  # noqa: F401  (registers their nodes)
