"""Pipeline ``training``: the fold template, wrapped once per fold namespace."""

from kedro.pipeline import Node, Pipeline

from .nodes import train_fold

#: Fold namespaces; ``kedro run --pipelines training --namespaces fold_2`` trains one.
#: They must match ``folds.n_folds`` (4, as the winning solution).
FOLD_NAMESPACES = tuple(f"fold_{k}" for k in range(4))


def fold_template() -> Pipeline:
    """Training of one fold; its outputs become ``<namespace>.model`` etc."""
    return Pipeline(
        [
            Node(
                func=train_fold,
                inputs={
                    "scene_index": "scene_index",
                    "fold_assignments": "fold_assignments",
                    "labels": "labels",
                    "raw_root": "params:raw_root",
                    "parameters": "params:training",
                    "fold": "params:fold",
                },
                outputs=["model", "training_history", "training_curves"],
                name="train_fold_node",
            )
        ]
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """One namespaced copy of the template per fold, sharing inputs and parameters."""
    return sum(
        (
            Pipeline(
                fold_template(),
                namespace=namespace,
                inputs={"scene_index", "fold_assignments", "labels"},
                parameters={"params:raw_root", "params:training"},
            )
            for namespace in FOLD_NAMESPACES
        ),
        Pipeline([]),
    )
