"""Pipeline ``label_cleaning``: rounds of teachers → out-of-fold detection → cleaning.

Round ``r`` (namespace ``label_cleaning.round_<r>``, ``r = 1 … label_cleaning.rounds``,
read when the pipelines are built like ``folds.n_folds``):

1. ``fold_assignments``: the teachers' fold table (``folds`` with the teachers' label
   sources; rounds >= 2 add the previous round's cleaned train labels as
   ``train_cleaned``);
2. one teacher per fold, ``label_cleaning.round_<r>.fold_<k>``: the ``training`` fold
   template with ``label_cleaning.teacher_training`` merged into ``training``;
3. ``train_candidates``: every train scene (outside the holdout) detected by the teachers
   that never trained on it;
4. ``cleaned_labels``: the raw train labels matched to those candidates
   (:func:`~xview3_pipeline.core.cleaning.clean_labels`), and ``train_cleaned_labels``,
   the labels to train on (:func:`~xview3_pipeline.core.cleaning.training_labels`). The
   last round's is the shared ``train_cleaned_labels``, which training reads when
   ``folds.label_sources`` has ``train_cleaned``.

After the rounds: ``label_cleaning_report`` (every round against ``synthetic_train_truth``;
empty on real data) and ``label_cleaning_examples`` (PNG crops of the last round).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline

from xview3_pipeline.pipelines.structure import (
    fold_namespaces,
    fold_pipelines,
    label_cleaning_rounds,
)
from xview3_pipeline.pipelines.training.pipeline import fold_template

from .nodes import (
    TEACHER,
    clean_train_labels,
    cleaned_training_labels,
    detect_train_scenes,
    draw_cleaning_examples,
    report_cleaning,
    teacher_fold_assignments,
)

#: Namespace of the whole pipeline.
NAMESPACE = "label_cleaning"
#: Datasets every round reads under their own names.
SHARED_INPUTS = frozenset({"labels", "scene_locations", "scene_index"})
#: Parameters every round reads under their own names.
SHARED_PARAMETERS = frozenset(
    {
        "params:folds",
        "params:label_cleaning",
        "params:label_cleaning.teacher_training",
        "params:training",
        "params:raw_root",
        "params:inference",
        "params:detection",
        "params:executor",
        "params:dask",
    }
)
#: The final cleaned train labels, outside the namespace.
FINAL_LABELS = "train_cleaned_labels"
#: Outputs of the pipeline outside the namespace.
OUTPUTS = frozenset({FINAL_LABELS, "label_cleaning_report", "label_cleaning_examples"})
#: Inputs of the report and the examples besides the rounds' (not namespaced).
REPORT_INPUTS = frozenset({"synthetic_train_truth"})
#: The template's name for the previous round's cleaned labels.
_PREVIOUS = "previous_train_cleaned_labels"


def _with_round(func: Callable[..., Any], round_index: int) -> Callable[..., Any]:
    return update_wrapper(partial(func, round_index=round_index), func)


def round_namespace(round_index: int) -> str:
    """``round_<r>`` (inside :data:`NAMESPACE`)."""
    return f"round_{round_index}"


def _teachers(round_index: int) -> Pipeline:
    """One teacher per fold, ``fold_<k>``, on the round's fold table."""
    template = fold_template(
        cleaned_labels=round_index > 1,
        overrides="params:label_cleaning.teacher_training",
        run_prefix=f"{NAMESPACE}/{round_namespace(round_index)}/",
    )
    return fold_pipelines(template, inputs={"train_cleaned_labels": _PREVIOUS})


def _round_nodes(round_index: int, rounds: int) -> Pipeline:
    """Teacher folds, detection of the train scenes, cleaning (un-namespaced)."""
    teachers = {f"{TEACHER}{k}": f"{ns}.model" for k, ns in enumerate(fold_namespaces())}
    return Pipeline(
        [
            Node(
                func=update_wrapper(
                    partial(teacher_fold_assignments, round_index=round_index, rounds=rounds),
                    teacher_fold_assignments,
                ),
                inputs=["labels", "scene_locations", "params:folds", "params:label_cleaning"],
                outputs="fold_assignments",
                name="teacher_fold_assignments_node",
            ),
            Node(
                func=detect_train_scenes,
                inputs={
                    "scene_index": "scene_index",
                    "fold_assignments": "fold_assignments",
                    "raw_root": "params:raw_root",
                    "inference": "params:inference",
                    "detection": "params:detection",
                    "executor": "params:executor",
                    "dask": "params:dask",
                    **teachers,
                },
                outputs="train_candidates",
                name="detect_train_scenes_node",
            ),
            Node(
                func=_with_round(clean_train_labels, round_index),
                inputs=[
                    "labels",
                    "train_candidates",
                    "scene_index",
                    "fold_assignments",
                    "params:label_cleaning",
                ],
                outputs="cleaned_labels",
                name="clean_train_labels_node",
            ),
            Node(
                func=cleaned_training_labels,
                inputs="cleaned_labels",
                outputs="train_cleaned_labels",
                name="cleaned_training_labels_node",
            ),
        ]
    )


def round_pipeline(round_index: int, rounds: int) -> Pipeline:
    """Round ``round_index`` of ``rounds``, in the namespace ``round_<r>``.

    Its ``train_cleaned_labels`` is ``round_<r>.train_cleaned_labels``, except in the last
    round, where it is the shared :data:`FINAL_LABELS`.
    """
    body = _teachers(round_index) + _round_nodes(round_index, rounds)
    inputs = {name: name for name in SHARED_INPUTS}
    if round_index > 1:
        inputs[_PREVIOUS] = f"{round_namespace(round_index - 1)}.train_cleaned_labels"
    return Pipeline(
        body,
        namespace=round_namespace(round_index),
        inputs=inputs,
        outputs={FINAL_LABELS: FINAL_LABELS} if round_index == rounds else None,
        parameters=set(SHARED_PARAMETERS & body.inputs()),
    )


def report_pipeline(rounds: int) -> Pipeline:
    """The report of every round and the examples of the last (un-namespaced)."""
    cleaned = [f"{round_namespace(r)}.cleaned_labels" for r in range(1, rounds + 1)]
    return Pipeline(
        [
            Node(
                func=report_cleaning,
                inputs=["synthetic_train_truth", "labels", "params:label_cleaning", *cleaned],
                outputs="label_cleaning_report",
                name="report_cleaning_node",
            ),
            Node(
                func=draw_cleaning_examples,
                inputs=[
                    cleaned[-1],
                    "synthetic_train_truth",
                    "scene_index",
                    "params:raw_root",
                    "params:label_cleaning",
                ],
                outputs="label_cleaning_examples",
                name="draw_cleaning_examples_node",
            ),
        ]
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """All rounds (``label_cleaning.rounds``), report and examples, in ``label_cleaning``."""
    rounds = label_cleaning_rounds()
    body = sum((round_pipeline(r, rounds) for r in range(1, rounds + 1)), Pipeline([]))
    body += report_pipeline(rounds)
    return Pipeline(
        body,
        namespace=NAMESPACE,
        inputs=set(SHARED_INPUTS | REPORT_INPUTS),
        outputs=set(OUTPUTS),
        parameters=set(SHARED_PARAMETERS & body.inputs()),
    )
