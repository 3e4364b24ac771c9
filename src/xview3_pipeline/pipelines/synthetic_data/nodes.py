"""Nodes of the ``synthetic_data`` pipeline."""

from collections.abc import Callable
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from xview3_pipeline.core.quicklook import dataset_quicklooks
from xview3_pipeline.core.synthetic import SyntheticConfig, generate_dataset


def generate_synthetic_dataset(
    raw_root: str, parameters: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Write a synthetic dataset into the raw root.

    Args:
        raw_root: Root to write (``params:raw_root``); replaced if it holds an earlier
            synthetic dataset, refused if it holds anything else.
        parameters: Keys of ``SyntheticConfig`` (``parameters_synthetic_data.yml``).

    Returns:
        The scene manifest (with each scene's true location), the truth of the test
        (``public``) scenes and the truth of the ``train`` scenes with the noise record of
        their labels.
    """
    generated = generate_dataset(SyntheticConfig.from_dict(parameters), raw_root)
    return generated.manifest, generated.test_truth, generated.train_truth


def render_quicklooks(
    raw_root: str, manifest: pd.DataFrame, test_truth: pd.DataFrame, parameters: dict[str, Any]
) -> dict[str, Callable[[], Figure]]:
    """Quicklook PNGs of every generated scene with its labels (test truth for ``public``).

    Args:
        raw_root: Root of the dataset.
        manifest: Output of :func:`generate_synthetic_dataset`.
        test_truth: Truth of the ``public`` scenes.
        parameters: ``max_side``: longest side of each image, pixels.

    Returns:
        Lazy figures keyed by ``<split>_<scene_id>``.
    """
    return dataset_quicklooks(raw_root, manifest, test_truth, max_side=int(parameters["max_side"]))
