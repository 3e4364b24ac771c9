"""Validation of the synthetic xBD generator's configuration."""

from __future__ import annotations

import pytest

from xview3_pipeline.core.xview2.synthetic import Xview2SyntheticConfig


def test_defaults_are_the_xbd_layout_and_validate():
    cfg = Xview2SyntheticConfig.from_dict({})
    assert cfg.image_size == 1024
    assert cfg.split_pairs() == {"train": 12, "test": 4, "hold": 4}


def test_pairs_per_split_merge_over_the_defaults():
    cfg = Xview2SyntheticConfig.from_dict({"pairs_per_split": {"test": 0}, "gsd_m": [0.5, 1.0]})
    assert cfg.split_pairs() == {"train": 12, "test": 0, "hold": 4}
    assert cfg.gsd_m == (0.5, 1.0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"colour": 1}, "Unknown xview2.synthetic key(s) ['colour']"),
        ({"image_size": 32}, "image_size=32"),
        ({"image_size": 100.5}, "image_size=100.5"),
        ({"n_events": 0}, "n_events=0"),
        ({"disaster_types": ["tsunami"]}, "unknown type(s) ['tsunami']"),
        ({"disaster_types": []}, "disaster_types is empty"),
        ({"pairs_per_split": {"tier3": 2}}, "unknown split(s) ['tier3']"),
        ({"pairs_per_split": {"train": 0, "test": 0, "hold": 0}}, "at least one pair"),
        ({"pairs_per_split": {"train": -1}}, "pairs_per_split.train=-1"),
        ({"gsd_m": [2.0, 1.0]}, "gsd_m=[2.0, 1.0]"),
        ({"gsd_m": [0.1, 1.0]}, "inside [0.3, 3]"),
        ({"gsd_m": 1.0}, "expected a range"),
        ({"off_nadir_deg": [0, 60]}, "off_nadir_deg=[0.0, 60.0]"),
        ({"max_shift_px": 40}, "max_shift_px=40"),
        ({"max_rotation_deg": -1}, "max_rotation_deg=-1"),
        ({"occupancy": 1.5}, "occupancy=1.5"),
        ({"image_format": "jpeg"}, "image_format='jpeg'"),
        ({"road_m": [10, 40], "block_m": [30, 60]}, "must stay below block_m"),
    ],
)
def test_bad_values_are_refused_with_the_key_and_value(values, message):
    with pytest.raises(ValueError) as info:
        Xview2SyntheticConfig.from_dict(values)
    assert message in str(info.value)
