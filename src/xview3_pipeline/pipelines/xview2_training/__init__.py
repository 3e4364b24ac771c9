"""``xview2_training``: one model per architecture and fold, resumable."""

from .pipeline import create_pipeline  # NOQA
