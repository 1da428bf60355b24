"""Optimization nodes: optimizers, learning-rate schedules, regularization."""
