"""``label_cleaning``: teachers' out-of-fold predictions clean the train labels, in rounds."""

from .pipeline import create_pipeline  # NOQA
