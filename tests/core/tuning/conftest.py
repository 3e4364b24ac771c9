"""Synthetic holdout candidates with a planted optimum, shared by the tuning tests."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import optuna
import pandas as pd
import pytest

#: Planted separation: false alarms have objectness below, true objects above.
FA_OBJECTNESS_MAX = 0.45
TP_OBJECTNESS_MIN = 0.55


def make_holdout(
    seed: int = 0, n_scenes: int = 3, n_gt: int = 40, n_fa: int = 40, size: float = 3000.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic truth and candidates with known structure.

    True objects sit on a jittered lattice (well separated); each has a candidate within a
    few pixels with high objectness and informative vessel/fishing probabilities. False
    alarms lie on free lattice cells with low objectness and random probabilities.
    """
    rng = np.random.default_rng(seed)
    truths, candidates = [], []
    for s in range(n_scenes):
        scene = f"scene{s}"
        side = int(np.ceil(np.sqrt(n_gt + n_fa))) + 1
        cells = rng.permutation(side * side)[: n_gt + n_fa]
        spacing = size / side
        rows = (cells // side) * spacing + spacing / 2 + rng.uniform(-5, 5, cells.size)
        cols = (cells % side) * spacing + spacing / 2 + rng.uniform(-5, 5, cells.size)
        vessel = rng.random(n_gt) < 0.7
        fishing = vessel & (rng.random(n_gt) < 0.45)
        length = rng.uniform(20, 200, n_gt)
        truths.append(
            pd.DataFrame(
                {
                    "detect_scene_row": rows[:n_gt],
                    "detect_scene_column": cols[:n_gt],
                    "scene_id": scene,
                    "is_vessel": vessel,
                    "is_fishing": fishing,
                    "vessel_length_m": length,
                    "confidence": "HIGH",
                    "distance_from_shore_km": 50.0,
                }
            )
        )
        vessel_p = np.where(vessel, rng.normal(0.7, 0.12, n_gt), rng.normal(0.35, 0.12, n_gt))
        fishing_p = np.where(fishing, rng.normal(0.65, 0.12, n_gt), rng.normal(0.35, 0.12, n_gt))
        candidates.append(
            pd.DataFrame(
                {
                    "detect_scene_row": rows[:n_gt] + rng.integers(-3, 4, n_gt),
                    "detect_scene_column": cols[:n_gt] + rng.integers(-3, 4, n_gt),
                    "scene_id": scene,
                    "vessel_length_m": length * rng.uniform(0.9, 1.1, n_gt),
                    "objectness_p": rng.uniform(TP_OBJECTNESS_MIN, 0.95, n_gt),
                    "vessel_p": np.clip(vessel_p, 0, 1),
                    "fishing_p": np.clip(fishing_p, 0, 1),
                }
            )
        )
        candidates.append(
            pd.DataFrame(
                {
                    "detect_scene_row": rows[n_gt:],
                    "detect_scene_column": cols[n_gt:],
                    "scene_id": scene,
                    "vessel_length_m": rng.uniform(20, 200, n_fa),
                    "objectness_p": rng.uniform(0.05, FA_OBJECTNESS_MAX, n_fa),
                    "vessel_p": rng.random(n_fa),
                    "fishing_p": rng.random(n_fa),
                }
            )
        )
    return pd.concat(candidates, ignore_index=True), pd.concat(truths, ignore_index=True)


@pytest.fixture(autouse=True)
def _quiet_optuna() -> Iterator[None]:
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(level)


@pytest.fixture(scope="module")
def holdout() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_holdout()
