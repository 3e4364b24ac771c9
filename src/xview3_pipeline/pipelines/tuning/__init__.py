"""``tuning``: Optuna search of the objectness, vessel and fishing thresholds on the private holdout."""

from .pipeline import create_pipeline  # NOQA
