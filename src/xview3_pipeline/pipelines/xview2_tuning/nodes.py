"""Nodes of the ``xview2_tuning`` pipeline."""

from collections.abc import Callable
from typing import Any

import pandas as pd

from xview3_pipeline.core.xview2.ensemble import ClassWeightFitConfig
from xview3_pipeline.core.xview2.outputs import fit_weights


def fit_xview2_class_weights(
    oof_probabilities: dict[str, Callable[[], Any]],
    target_masks: dict[str, Callable[[], Any]],
    pair_index: pd.DataFrame,
    parameters: dict[str, Any],
) -> dict[str, Any]:
    """Fit one architecture's five class weights on its out-of-fold probabilities.

    Args:
        oof_probabilities: ``xview2.<architecture>.oof_probabilities``.
        target_masks: ``xview2_target_masks``.
        pair_index: ``xview2_pair_index``.
        parameters: ``xview2.tuning`` (keys of ``ClassWeightFitConfig``).

    Returns:
        The weights with the out-of-fold score before (all ones) and after.
    """
    return fit_weights(
        oof_probabilities, target_masks, pair_index, ClassWeightFitConfig.from_dict(parameters)
    )
