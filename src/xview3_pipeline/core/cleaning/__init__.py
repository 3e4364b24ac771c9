"""Cleaning noisy training labels with out-of-fold predictions (the winner's scheme).

:func:`clean_labels` matches an ensemble's out-of-fold candidates to the labels of the scenes
it did not train on and states, per label, whether a confident prediction confirms it;
:func:`training_labels` turns that table into labels the encoder trains on (disagreements
become ignore regions); :func:`cleaning_report` scores the cleaning against the synthetic
generator's truth; :func:`cleaning_examples` draws crops of label states against truth.
"""

from xview3_pipeline.core.cleaning.clean import (
    CANDIDATE_INPUT_COLUMNS,
    clean_labels,
    training_labels,
)
from xview3_pipeline.core.cleaning.config import CleaningConfig
from xview3_pipeline.core.cleaning.examples import (
    EXAMPLE_COLUMNS,
    cleaning_examples,
    read_example_crops,
    scene_cleaning_examples,
    select_examples,
    truth_object_status,
)
from xview3_pipeline.core.cleaning.report import (
    MEASURES,
    REPORT_COLUMNS,
    TRUTH_COLUMNS,
    cleaning_report,
    truth_status,
)
from xview3_pipeline.core.cleaning.tables import (
    AGREE_COLUMNS,
    CLEANING_COLUMNS,
    LABEL_STATES,
    PREDICTION_COLUMNS,
    PREDICTION_SOURCE,
)

__all__ = [
    "AGREE_COLUMNS",
    "CANDIDATE_INPUT_COLUMNS",
    "CLEANING_COLUMNS",
    "EXAMPLE_COLUMNS",
    "LABEL_STATES",
    "MEASURES",
    "PREDICTION_COLUMNS",
    "PREDICTION_SOURCE",
    "REPORT_COLUMNS",
    "TRUTH_COLUMNS",
    "CleaningConfig",
    "clean_labels",
    "cleaning_examples",
    "cleaning_report",
    "read_example_crops",
    "scene_cleaning_examples",
    "select_examples",
    "training_labels",
    "truth_object_status",
    "truth_status",
]
