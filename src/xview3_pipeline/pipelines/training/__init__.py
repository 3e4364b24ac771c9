"""``training``: one CircleNet per fold, from one template wrapped in a namespace per fold."""

from .pipeline import create_pipeline  # NOQA
