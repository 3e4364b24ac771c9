"""Pipeline ``training_ensemble``: the winner's architectures, each trained on every fold."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
