"""Input/output nodes: saving models."""
