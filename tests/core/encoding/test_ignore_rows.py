"""Label rows flagged ``ignore`` (cleaned train labels): ignore discs, no class or length."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xview3_pipeline.core.encoding import CoderConfig, encode_targets, labels_to_objects
from xview3_pipeline.core.encoding.functional import disc_mask
from xview3_pipeline.core.encoding.tables import encoded_objects
from xview3_pipeline.core.types import IGNORE_INDEX

#: Both LOW flags off: an ``ignore`` row must be ignored anyway.
TRUST_LOW = CoderConfig(
    stride=2,
    heatmap_radius=3,
    labels_radius=1,
    ignore_low_confidence_detections=False,
    ignore_low_confidence_labels=False,
)


def _rows(ignore: list[object] | None = None) -> pd.DataFrame:
    """Two HIGH vessels of known class and length, far apart on a 64 x 64 image."""
    frame = pd.DataFrame(
        {
            "detect_id": ["kept", "flagged"],
            "detect_scene_row": [10, 40],
            "detect_scene_column": [10, 50],
            "is_vessel": pd.array([True, True], dtype="boolean"),
            "is_fishing": pd.array([False, True], dtype="boolean"),
            "vessel_length_m": [60.0, 90.0],
            "confidence": ["HIGH", "HIGH"],
            "is_near_shore": [False, False],
        }
    )
    if ignore is not None:
        frame["ignore"] = ignore
    return frame


def _disc(shape: tuple[int, int], cell: tuple[int, int], radius: int) -> np.ndarray:
    """Boolean ``(h, w)`` disc of ``radius`` around ``cell = (x, y)``."""
    mask = np.zeros(shape, bool)
    x, y = cell
    mask[y - radius : y + radius + 1, x - radius : x + radius + 1] = disc_mask(radius)
    return mask


@pytest.mark.parametrize(
    "config", [TRUST_LOW, CoderConfig(stride=2)], ids=["low-flags-off", "low-flags-on"]
)
def test_ignore_row_is_an_ignore_disc_without_class_or_length(config: CoderConfig) -> None:
    targets = encode_targets(labels_to_objects(_rows([False, True])), (64, 64), config)
    objectness, vessel, fishing, length = (m[0] for m in targets[:4])
    flagged = _disc(objectness.shape, (25, 20), config.heatmap_radius)
    assert (objectness[flagged] == IGNORE_INDEX).all()
    assert not (objectness[~flagged] == IGNORE_INDEX).any()
    # The trusted row keeps its peak, class and length.
    assert objectness[5, 5] == 1.0 and vessel[5, 5] == 1.0 and fishing[5, 5] == 0.0
    assert length[5, 5] == pytest.approx(np.log1p(6.0))
    # The flagged row: unknown vessel and fishing on its label disc, no length, no peak.
    labels_disc = _disc(vessel.shape, (25, 20), config.labels_radius)
    assert (vessel[labels_disc] == IGNORE_INDEX).all()
    assert (fishing[labels_disc] == IGNORE_INDEX).all()
    assert (length[labels_disc] == 0.0).all()
    assert int((objectness == 1.0).sum()) == 1


def test_without_ignore_column_or_all_false_nothing_changes() -> None:
    plain = encode_targets(labels_to_objects(_rows()), (64, 64), TRUST_LOW)
    flagged = encode_targets(labels_to_objects(_rows([False, False])), (64, 64), TRUST_LOW)
    for a, b in zip(plain, flagged, strict=True):
        np.testing.assert_array_equal(a, b)
    assert int((plain.objectness == 1.0).sum()) == 2


def test_ignore_row_never_takes_the_offset_of_a_shared_cell() -> None:
    rows = pd.concat([_rows([False, True]).iloc[:1]] * 2, ignore_index=True)
    rows["ignore"] = [False, True]
    rows.loc[1, "detect_scene_column"] = 11.0  # same output cell (5, 5), other offset
    targets = encode_targets(labels_to_objects(rows), (64, 64), TRUST_LOW)
    # Ignored rows are drawn first: the trusted row's offset (10 / 2 - 5 = 0) is kept.
    assert targets.offset[0, 5, 5] == 0.0


def test_ignore_rows_may_lack_a_confidence() -> None:
    rows = _rows([False, True])
    rows["confidence"] = ["HIGH", None]
    objects = labels_to_objects(rows)
    assert objects.ignored.tolist() == [False, True]
    rows["ignore"] = [False, False]
    with pytest.raises(ValueError, match="confidence values"):
        labels_to_objects(rows)


@pytest.mark.parametrize("bad", [[False, None], [0, 1], ["no", "yes"]])
def test_ignore_column_must_be_boolean(bad: list[object]) -> None:
    with pytest.raises(ValueError, match="ignore column must hold True or False"):
        labels_to_objects(_rows(bad))


def test_encoded_object_table_marks_ignore_rows() -> None:
    table = encoded_objects(_rows([False, True]), (64, 64), TRUST_LOW)
    by_id = table.set_index("detect_id")
    assert by_id.loc["flagged", "objectness"] == "ignore"
    assert by_id.loc["flagged", ["vessel", "fishing"]].tolist() == [IGNORE_INDEX] * 2
    assert by_id.loc["flagged", "length_log"] == 0.0
    assert by_id.loc["kept", "objectness"] == "peak"
    assert table["detect_id"].tolist() == ["flagged", "kept"]  # ignored rows drawn first
