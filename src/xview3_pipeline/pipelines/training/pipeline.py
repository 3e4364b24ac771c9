"""Pipeline ``training``: the fold template, wrapped once per fold namespace."""

from kedro.pipeline import Node, Pipeline

from xview3_pipeline.pipelines.structure import ensemble_presets, fold_namespaces

from .nodes import clear_training_work, train_fold


def fold_template() -> Pipeline:
    """Training of one fold; its outputs become ``<namespace>.model`` etc.

    The second node clears the run's resumable checkpoints; its inputs are the saved
    model and history, so it runs only once Kedro has saved (and reloaded) both.
    """
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
            ),
            Node(
                func=clear_training_work,
                inputs={
                    "model": "model",
                    "history": "training_history",
                    "parameters": "params:training",
                    "fold": "params:fold",
                },
                outputs=None,
                name="clear_training_work_node",
            ),
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
            for namespace in fold_namespaces()
        ),
        Pipeline([]),
    )


def create_ensemble_pipeline() -> Pipeline:
    """One namespaced copy of the template per architecture and fold (``<preset>.fold_k``).

    Registered as ``training_ensemble``; its parameters (``ensemble.<preset>``) are in
    ``conf/xview3_full``: ``kedro run --env xview3_full --pipelines training_ensemble``.
    """
    return sum(
        (
            Pipeline(
                fold_template(),
                namespace=f"{preset}.{namespace}",
                inputs={"scene_index", "fold_assignments", "labels"},
                parameters={
                    "params:raw_root": "params:raw_root",
                    "params:training": f"params:ensemble.{preset}",
                    "params:fold": f"params:{namespace}.fold",
                },
            )
            for preset in ensemble_presets()
            for namespace in fold_namespaces()
        ),
        Pipeline([]),
    )
