"""``xview2_tuning``: per-class weights of every architecture, fitted out of fold."""

from .pipeline import create_pipeline  # NOQA
