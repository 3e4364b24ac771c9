"""``robustness``: both detectors' test scores side by side, in vs out of distribution."""

from .pipeline import create_pipeline  # NOQA
