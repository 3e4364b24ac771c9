"""Pipeline ``training``: the fold template, wrapped once per fold namespace."""

from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline

from xview3_pipeline.pipelines.structure import (
    ensemble_presets,
    fold_pipelines,
    trains_on_cleaned_labels,
)

from .nodes import clear_training_work, train_fold

#: Datasets every fold namespace shares (with ``train_cleaned_labels`` when it is read).
SHARED_INPUTS = frozenset({"scene_index", "fold_assignments", "labels", "train_cleaned_labels"})


def _bound(func: Callable[..., Any], run_prefix: str) -> Callable[..., Any]:
    return update_wrapper(partial(func, run_prefix=run_prefix), func) if run_prefix else func


def fold_template(
    *, cleaned_labels: bool = False, overrides: str | None = None, run_prefix: str = ""
) -> Pipeline:
    """Training of one fold; its outputs become ``<namespace>.model`` etc.

    Its fold number is the dataset ``fold``, which :func:`~xview3_pipeline.pipelines.
    structure.fold_pipelines` gives each namespace. The second node clears the run's
    resumable checkpoints; its inputs are the saved model and history, so it runs only
    once Kedro has saved (and reloaded) both.

    Args:
        cleaned_labels: The training node also reads ``train_cleaned_labels`` (the fold
            table's ``train`` scenes train on those cleaned labels).
        overrides: A parameter of overrides of the ``training`` block (e.g.
            ``params:label_cleaning.teacher_training``), or None.
        run_prefix: Prefix of the runs' work folders (e.g. ``label_cleaning/round_1/``),
            so fold models trained for another purpose never resume each other's runs.

    Returns:
        The un-namespaced template.
    """
    extra = {"overrides": overrides} if overrides else {}
    return Pipeline(
        [
            Node(
                func=_bound(train_fold, run_prefix),
                inputs={
                    "scene_index": "scene_index",
                    "fold_assignments": "fold_assignments",
                    "labels": "labels",
                    "raw_root": "params:raw_root",
                    "parameters": "params:training",
                    "fold": "fold",
                    **({"train_cleaned_labels": "train_cleaned_labels"} if cleaned_labels else {}),
                    **extra,
                },
                outputs=["model", "training_history", "training_curves"],
                name="train_fold_node",
                tags="gpu",  # DaskRunner: one GPU per fold where workers declare GPUs
            ),
            Node(
                func=_bound(clear_training_work, run_prefix),
                inputs={
                    "model": "model",
                    "history": "training_history",
                    "parameters": "params:training",
                    "fold": "fold",
                    **extra,
                },
                outputs=None,
                name="clear_training_work_node",
            ),
        ]
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """One namespaced copy of the template per fold (``fold_k``), sharing inputs and parameters.

    With ``train_cleaned`` in ``folds.label_sources`` (read when the pipelines are built)
    every fold also reads ``train_cleaned_labels``.
    """
    template = fold_template(cleaned_labels=trains_on_cleaned_labels())
    return fold_pipelines(template, shared_inputs=SHARED_INPUTS)


def create_ensemble_pipeline() -> Pipeline:
    """One namespaced copy of the template per architecture and fold (``<preset>.fold_k``).

    Registered as ``training_ensemble``; the architectures are the keys of the
    ``ensemble`` block (``ensemble.<preset>``, complete training blocks, in
    ``conf/xview3_full``): ``kedro run --env xview3_full --pipelines training_ensemble``.
    """
    template = fold_template(cleaned_labels=trains_on_cleaned_labels())
    return sum(
        (
            fold_pipelines(
                template,
                prefix=f"{preset}.",
                parameters={"params:training": f"params:ensemble.{preset}"},
                shared_inputs=SHARED_INPUTS,
            )
            for preset in ensemble_presets()
        ),
        Pipeline([]),
    )
