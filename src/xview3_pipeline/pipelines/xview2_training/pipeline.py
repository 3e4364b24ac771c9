"""Pipeline ``xview2_training``: namespaces ``xview2.<architecture>.fold_<k>``."""

from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline

from xview3_pipeline.pipelines.xview2_structure import Xview2Structure, xview2_structure

from .nodes import clear_xview2_training_work, train_xview2_fold


def bound(func: Callable[..., Any], **kwargs: Any) -> Callable[..., Any]:
    """``func`` with keyword arguments bound, keeping its name for Kedro."""
    return update_wrapper(partial(func, **kwargs), func)


def fold_nodes(structure: Xview2Structure, architecture: str, fold: int) -> list[Node]:
    """The training and clean-up nodes of one architecture and fold."""
    ns = structure.namespace(architecture, fold)
    where = {"architecture": architecture, "fold": fold}
    return [
        Node(
            func=bound(train_xview2_fold, structure=structure, **where),
            inputs=[
                "xview2_pair_index",
                "xview2_fold_assignments",
                "xview2_target_masks",
                "params:xview2",
            ],
            outputs=[f"{ns}.model", f"{ns}.training_history", f"{ns}.training_curves"],
            name="train_xview2_fold_node",
            namespace=ns,
            tags="gpu",
        ),
        Node(
            func=bound(clear_xview2_training_work, **where),
            inputs=[f"{ns}.model", f"{ns}.training_history", "params:xview2"],
            outputs=None,
            name="clear_xview2_training_work_node",
            namespace=ns,
        ),
    ]


def create_pipeline(**kwargs: object) -> Pipeline:
    """One model per architecture (ensemble and baseline) and fold."""
    structure = xview2_structure()
    return Pipeline(
        [
            node
            for architecture in structure.architectures
            for fold in structure.folds()
            for node in fold_nodes(structure, architecture, fold)
        ]
    )
