"""``predict``: the trained system (or CFAR) on a folder of new, unlabelled scenes."""

from .pipeline import create_pipeline  # NOQA
