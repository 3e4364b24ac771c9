"""Pipeline ``xview2``: every xView2 stage after the generator, in order.

``kedro run --pipelines xview2`` runs ingestion → folds → training → pseudo-labels →
inference → tuning → submission on whatever lies under ``xview2.raw_root``; like
``kedro run`` for xView3, it never runs the generator (``xview2_synthetic_data``). Kedro
imports only the pipeline packages a command names, so this package builds the stages
itself (from :data:`xview3_pipeline.pipeline_registry.XVIEW2_STAGES`).
"""

import importlib

from kedro.pipeline import Pipeline

from xview3_pipeline.pipeline_registry import XVIEW2_STAGES


def create_pipeline(**kwargs: object) -> Pipeline:
    """The sum of the xView2 stages, built from their packages."""
    return sum(
        (
            importlib.import_module(f"xview3_pipeline.pipelines.{name}").create_pipeline()
            for name in XVIEW2_STAGES
        ),
        Pipeline([]),
    )
