"""Shared package of the book: data, models, losses, training, curvature/NTK probes, experiments, results, claims."""

__version__ = "0.1.0"
