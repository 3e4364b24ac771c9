"""Nodes of the ``xview2_synthetic_data`` pipeline."""

from typing import Any

import pandas as pd

from xview3_pipeline.core.xview2.synthetic import Xview2SyntheticConfig, generate_xview2_dataset


def generate_xview2_synthetic_dataset(
    raw_root: str, truth_root: str, parameters: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write a synthetic xBD dataset into the raw root and the test truth beside it.

    Args:
        raw_root: Root to write (``params:xview2.raw_root``); replaced if it holds an
            earlier synthetic dataset, refused if it holds anything else.
        truth_root: Folder of the test labels (``params:xview2.truth_root``), outside the
            raw root.
        parameters: Keys of ``Xview2SyntheticConfig`` (``xview2.synthetic`` in
            ``parameters_xview2.yml``).

    Returns:
        The image manifest (split, event, acquisition and misalignment of every image)
        and the building table (uid, subtype, height of every building of every pair).
    """
    generated = generate_xview2_dataset(
        Xview2SyntheticConfig.from_dict(parameters), raw_root, truth_root
    )
    return generated.manifest, generated.buildings
