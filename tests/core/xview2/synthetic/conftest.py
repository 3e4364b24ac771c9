"""A tiny synthetic xBD dataset shared by the generator tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from xview3_pipeline.core.xview2.synthetic import (
    GeneratedXview2Dataset,
    Xview2SyntheticConfig,
    generate_xview2_dataset,
)

TINY: dict[str, Any] = {
    "seed": 3,
    "image_size": 128,
    "n_events": 2,
    "disaster_types": ["flooding", "wind"],
    "pairs_per_split": {"train": 2, "test": 2, "hold": 2},
    "gsd_m": [0.6, 0.8],
}


@pytest.fixture(scope="package")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> GeneratedXview2Dataset:
    root = tmp_path_factory.mktemp("xview2")
    return generate_xview2_dataset(
        Xview2SyntheticConfig.from_dict(TINY), root / "raw", root / "truth"
    )


def tiny_config(**overrides: object) -> Xview2SyntheticConfig:
    return Xview2SyntheticConfig.from_dict(TINY | overrides)


def all_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
