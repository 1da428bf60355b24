"""Inference nodes: generation and classification."""
