"""``xview2``: the whole xView2 chain, from the raw pairs to the scored submissions."""

from .pipeline import create_pipeline  # NOQA
