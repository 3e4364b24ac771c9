"""``experiment``: the default stages without the ones every experiment shares."""

from .pipeline import create_pipeline  # NOQA
