"""``xview2_pseudo_labels``: label the test pairs with the first-stage ensemble, fine-tune."""

from .pipeline import create_pipeline  # NOQA
