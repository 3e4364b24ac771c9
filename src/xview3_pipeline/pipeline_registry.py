"""Project pipelines."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from xview3_pipeline.pipelines.structure import trains_on_cleaned_labels

#: Stages that ``kedro run`` runs by default, in order. ``synthetic_data`` is not among
#: them: it writes a dataset into the raw root, which a user with the real xView3 data
#: never wants to happen implicitly. ``evaluation`` holds ``inference``, ``tuning`` and
#: ``submission`` (the ``cnn`` namespace) and ``cfar_baseline`` (the ``cfar`` namespace),
#: which stay registered under those names.
DEFAULT_STAGES = (
    "ingestion",
    "locations",
    "folds",
    "encoding",
    "training",
    "evaluation",
)
#: Added to the default stages when ``folds.label_sources`` has ``train_cleaned`` (read
#: when the registry is built): training then reads its ``train_cleaned_labels``.
CLEANING_STAGE = "label_cleaning"

#: Stages whose outputs every experiment shares (the scene index, labels and locations).
#: The registered pipeline ``experiment`` is ``__default__`` without them: what one
#: experiment (``kedro run --env exp_raw_train --pipelines experiment``) runs on data
#: that is already prepared.
SHARED_STAGES = ("ingestion", "locations")

#: Stages of the ``xview2`` chain (building damage, the ``xview2`` pipeline package), in
#: order. Like ``__default__``, it does not include its generator ``xview2_synthetic_data``;
#: ``xview2_pseudo_labels`` is empty unless ``xview2.pseudo_labels.enabled``.
XVIEW2_STAGES = (
    "xview2_ingestion",
    "xview2_folds",
    "xview2_training",
    "xview2_pseudo_labels",
    "xview2_inference",
    "xview2_tuning",
    "xview2_submission",
)


def default_stages() -> tuple[str, ...]:
    """Stages of ``__default__``: :data:`DEFAULT_STAGES`, plus cleaning when it is configured."""
    return (*DEFAULT_STAGES, CLEANING_STAGE) if trains_on_cleaned_labels() else DEFAULT_STAGES


def experiment_stages() -> tuple[str, ...]:
    """Stages of the ``experiment`` pipeline: the default ones except :data:`SHARED_STAGES`."""
    return tuple(name for name in default_stages() if name not in SHARED_STAGES)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (pipelines[name] for name in default_stages() if name in pipelines), Pipeline([])
    )
    return pipelines
