"""``folds``: cross-validation folds and the private holdout."""

from .pipeline import create_pipeline  # NOQA
