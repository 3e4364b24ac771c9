"""``inference``: export the fold ensemble, detect candidates on holdout, test and out-of-fold scenes."""

from .pipeline import create_pipeline  # NOQA
