"""Pipeline ``training``: the fold template, wrapped once per fold namespace."""

from kedro.pipeline import Node, Pipeline

from xview3_pipeline.pipelines.structure import ensemble_presets, fold_pipelines

from .nodes import clear_training_work, train_fold


def fold_template() -> Pipeline:
    """Training of one fold; its outputs become ``<namespace>.model`` etc.

    Its fold number is the dataset ``fold``, which :func:`~xview3_pipeline.pipelines.
    structure.fold_pipelines` gives each namespace. The second node clears the run's
    resumable checkpoints; its inputs are the saved model and history, so it runs only
    once Kedro has saved (and reloaded) both.
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
                    "fold": "fold",
                },
                outputs=["model", "training_history", "training_curves"],
                name="train_fold_node",
                tags="gpu",  # DaskRunner: one GPU per fold where workers declare GPUs
            ),
            Node(
                func=clear_training_work,
                inputs={
                    "model": "model",
                    "history": "training_history",
                    "parameters": "params:training",
                    "fold": "fold",
                },
                outputs=None,
                name="clear_training_work_node",
            ),
        ]
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """One namespaced copy of the template per fold (``fold_k``), sharing inputs and parameters."""
    return fold_pipelines(fold_template())


def create_ensemble_pipeline() -> Pipeline:
    """One namespaced copy of the template per architecture and fold (``<preset>.fold_k``).

    Registered as ``training_ensemble``; the architectures are the keys of the
    ``ensemble`` block (``ensemble.<preset>``, complete training blocks, in
    ``conf/xview3_full``): ``kedro run --env xview3_full --pipelines training_ensemble``.
    """
    return sum(
        (
            fold_pipelines(
                fold_template(),
                prefix=f"{preset}.",
                parameters={"params:training": f"params:ensemble.{preset}"},
            )
            for preset in ensemble_presets()
        ),
        Pipeline([]),
    )
