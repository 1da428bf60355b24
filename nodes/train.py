"""Training nodes."""
