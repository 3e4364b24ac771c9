"""Reading and validating the official label CSVs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.core.rasters import write_scene
from xview3_pipeline.core import ingestion
from xview3_pipeline.core.constants import CONFIDENCE_LEVELS, LABEL_COLUMNS
from xview3_pipeline.core.errors import LabelValidationError
from xview3_pipeline.core.io.labels import (
    ADDED_COLUMNS,
    REJECT_COLUMNS,
    read_label_file,
    validate_labels,
)

SCENES = pd.DataFrame(
    {
        "scene_id": ["aaaat", "bbbbt", "ccccv"],
        "split": ["train", "train", "validation"],
        "width": [64, 64, 100],
        "height": [48, 48, 80],
    }
)


def _row(i: int, scene_id: str = "aaaat", **overrides: str) -> dict[str, str]:
    row = {
        "detect_lat": "45.1",
        "detect_lon": "3.0",
        "vessel_length_m": "25.5",
        "source": "manual",
        "detect_scene_row": str(10 + i % 30),
        "detect_scene_column": str(20 + i % 40),
        "is_vessel": "True",
        "is_fishing": "False",
        "distance_from_shore_km": "12.5",
        "scene_id": scene_id,
        "confidence": "HIGH",
        "top": "1.0",
        "left": "2.0",
        "bottom": "3.0",
        "right": "4.0",
        "detect_id": f"{scene_id}_{i}",
    }
    row.update(overrides)
    return row


def _write_csv(path: Path, rows: list[dict[str, str]], columns=LABEL_COLUMNS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(LABEL_COLUMNS), dtype=object)


# --- read_label_file --------------------------------------------------------------------


def test_read_label_file_reads_text_and_keeps_extras(tmp_path):
    rows = [_row(0, extra="x"), _row(1, detect_scene_row="007", vessel_length_m="", extra="")]
    path = _write_csv(tmp_path / "train.csv", rows, columns=[*LABEL_COLUMNS, "extra"])
    df = read_label_file(path)
    assert list(df.columns) == [*LABEL_COLUMNS, "extra"]
    assert df["detect_scene_row"].tolist() == ["10", "007"]
    assert df["vessel_length_m"].tolist() == ["25.5", ""]
    assert df.attrs["label_file"] == "train.csv"


def test_read_label_file_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nolabels\.csv"):
        read_label_file(tmp_path / "nolabels.csv")


def test_read_label_file_missing_columns(tmp_path):
    cols = [c for c in LABEL_COLUMNS if c not in ("confidence", "detect_id")]
    path = _write_csv(tmp_path / "train.csv", [], columns=cols)
    with pytest.raises(LabelValidationError, match=r"train\.csv") as info:
        read_label_file(path)
    assert "'confidence'" in str(info.value) and "'detect_id'" in str(info.value)


def test_read_label_file_zero_bytes(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("")
    with pytest.raises(LabelValidationError, match=r"train\.csv is empty"):
        read_label_file(path)


def test_header_only_file_gives_zero_typed_rows(tmp_path):
    path = _write_csv(tmp_path / "train.csv", [])
    result = validate_labels({"train": read_label_file(path)}, SCENES)
    assert len(result.labels) == 0 and len(result.rejects) == 0
    assert list(result.labels.columns) == [*LABEL_COLUMNS, *ADDED_COLUMNS]
    assert result.labels["detect_scene_row"].dtype == np.int64
    assert result.labels["confidence"].dtype.ordered
    result.labels.to_parquet(tmp_path / "empty.parquet")
    back = pd.read_parquet(tmp_path / "empty.parquet")
    # pyarrow drops the categories of an empty categorical (it keeps them otherwise).
    assert back["confidence"].dtype.ordered
    pd.testing.assert_frame_equal(
        back.drop(columns="confidence"), result.labels.drop(columns="confidence")
    )


# --- normalised labels ------------------------------------------------------------------


def test_valid_labels_typed_ordered_and_round_trip(tmp_path):
    train = _frame(
        [
            _row(0, confidence="LOW", is_vessel="", is_fishing="", vessel_length_m=""),
            _row(1, "bbbbt", confidence=" MEDIUM ", is_vessel="true", is_fishing="0"),
            _row(2, distance_from_shore_km="2.0", is_vessel="1.0", is_fishing="0.0"),
        ]
    )
    val = _frame(
        [
            _row(3, "ccccv", distance_from_shore_km="2.0001", detect_scene_row="79.0"),
            _row(4, "ccccv", distance_from_shore_km="", is_vessel="False", is_fishing="1"),
        ]
    )
    # Mapping order does not matter: train rows come first.
    result = validate_labels({"validation": val, "train": train}, SCENES)
    labels = result.labels
    assert result.rejects.empty
    assert list(labels.columns) == [*LABEL_COLUMNS, *ADDED_COLUMNS]
    assert labels["split"].tolist() == ["train"] * 3 + ["validation"] * 2
    assert labels["label_file"].tolist() == ["train.csv"] * 3 + ["validation.csv"] * 2
    assert labels["source_row"].tolist() == [0, 1, 2, 0, 1]

    for col in ("detect_lat", "detect_lon", "vessel_length_m", "distance_from_shore_km", "top"):
        assert labels[col].dtype == np.float64, col
    assert labels["detect_scene_row"].dtype == np.int64
    assert labels["detect_scene_column"].dtype == np.int64
    assert labels["detect_scene_row"].tolist()[3] == 79
    assert labels["is_vessel"].dtype == "boolean" and labels["is_fishing"].dtype == "boolean"
    assert labels["is_vessel"].tolist() == [pd.NA, True, True, True, False]
    assert labels["is_fishing"].tolist() == [pd.NA, False, False, False, True]
    assert pd.api.types.is_string_dtype(labels["scene_id"])
    assert pd.api.types.is_string_dtype(labels["detect_id"])
    conf = labels["confidence"]
    assert isinstance(conf.dtype, pd.CategoricalDtype) and conf.dtype.ordered
    assert list(conf.cat.categories) == list(CONFIDENCE_LEVELS)
    assert conf.tolist() == ["LOW", "MEDIUM", "HIGH", "HIGH", "HIGH"]
    assert (conf >= "MEDIUM").tolist() == [False, True, True, True, True]

    assert labels["is_near_shore"].tolist() == [False, False, True, False, False]
    assert labels["vessel_unknown"].tolist() == [True, False, False, False, False]
    assert labels["fishing_unknown"].tolist() == [True, False, False, False, False]
    assert labels["length_unknown"].tolist() == [True, False, False, False, False]
    assert labels["is_near_shore"].dtype == bool

    path = tmp_path / "labels.parquet"
    labels.to_parquet(path)
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, labels)
    assert back["confidence"].dtype.ordered
    assert back["confidence"].max() == "HIGH"


def test_near_shore_threshold_is_configurable():
    train = _frame([_row(0, distance_from_shore_km="4.5")])
    assert validate_labels({"train": train}, SCENES).labels["is_near_shore"].tolist() == [False]
    flags = validate_labels({"train": train}, SCENES, near_shore_km=4.5).labels["is_near_shore"]
    assert flags.tolist() == [True]


# --- invalid rows -----------------------------------------------------------------------

BAD_VALUES = [
    ("scene_id", "../evil", "invalid scene id"),
    ("scene_id", "a/b", "invalid scene id"),
    ("scene_id", "", "invalid scene id"),
    ("scene_id", "zzzzt", "unknown scene"),
    ("scene_id", "ccccv", "unknown scene"),  # a validation scene, labelled in train.csv
    ("detect_scene_row", "", "missing value"),
    ("detect_scene_row", "abc", "not a number"),
    ("detect_scene_row", "nan", "not a number"),
    ("detect_scene_row", "12.5", "not an integer"),
    ("detect_scene_row", "inf", "not finite"),
    ("detect_scene_row", "48", "outside the scene"),
    ("detect_scene_row", "-1", "outside the scene"),
    ("detect_scene_column", "64", "outside the scene"),
    ("detect_scene_column", "x1", "not a number"),
    ("detect_lat", "", "missing value"),
    ("detect_lat", "NaN", "not a number"),
    ("detect_lat", "90.5", "out of range"),
    ("detect_lon", "-180.01", "out of range"),
    ("detect_lon", "east", "not a number"),
    ("confidence", "high", "invalid confidence"),
    ("confidence", "", "invalid confidence"),
    ("is_vessel", "yes", "invalid boolean"),
    ("is_fishing", "2", "invalid boolean"),
    ("vessel_length_m", "-3", "negative length"),
    ("vessel_length_m", "inf", "not finite"),
    ("vessel_length_m", "long", "not a number"),
    ("distance_from_shore_km", "far", "not a number"),
    ("top", "?", "not a number"),
    ("detect_id", "", "missing value"),
]


@pytest.mark.parametrize(("column", "value", "reason"), BAD_VALUES)
def test_lenient_rejects_each_problem(column, value, reason):
    rows = [_row(0), _row(1, **{column: value}), _row(2)]
    result = validate_labels({"train": _frame(rows)}, SCENES, strict=False)
    assert result.labels["source_row"].tolist() == [0, 2]
    rejects = result.rejects
    assert len(rejects) == 1
    assert list(rejects.columns) == [*LABEL_COLUMNS, *REJECT_COLUMNS]
    rej = rejects.iloc[0]
    assert rej["source_row"] == 1 and rej["split"] == "train" and rej["label_file"] == "train.csv"
    assert rej[column] == value
    assert rej["reason"].startswith(f"{column}: ")
    assert reason in rej["reason"]


def test_path_like_ids_are_invalid_not_unknown():
    rows = [_row(0, "../evil"), _row(1, "a/b")]
    rejects = validate_labels({"train": _frame(rows)}, SCENES, strict=False).rejects
    assert rejects["scene_id"].tolist() == ["../evil", "a/b"]
    assert rejects["reason"].str.contains("invalid scene id").all()
    assert not rejects["reason"].str.contains("unknown scene").any()


def test_duplicate_detect_id_within_and_across_files():
    train = _frame([_row(0, detect_id="d1"), _row(1, detect_id="d2"), _row(2, detect_id="d1")])
    val = _frame([_row(3, "ccccv", detect_id="d2"), _row(4, "ccccv", detect_id="d9")])
    result = validate_labels({"train": train, "validation": val}, SCENES, strict=False)
    assert result.labels["detect_id"].tolist() == ["d1", "d2", "d9"]
    rej = result.rejects
    assert rej[["split", "source_row"]].values.tolist() == [["train", 2], ["validation", 0]]
    assert rej["reason"].str.contains("duplicate detect_id").all()


def test_several_reasons_are_joined_and_original_text_kept():
    rows = [_row(0, confidence="nope", detect_lat=" 95 ", is_vessel="maybe")]
    rej = validate_labels({"train": _frame(rows)}, SCENES, strict=False).rejects.iloc[0]
    assert rej["detect_lat"] == " 95 "
    parts = rej["reason"].split("; ")
    assert len(parts) == 3
    assert parts[0].startswith("detect_lat: out of range")
    assert any(p.startswith("is_vessel: invalid boolean") for p in parts)
    assert any(p.startswith("confidence: invalid confidence") for p in parts)


def test_rejects_round_trip_parquet(tmp_path):
    rows = [_row(0), _row(1, detect_scene_row="x")]
    rejects = validate_labels({"train": _frame(rows)}, SCENES, strict=False).rejects
    rejects.to_parquet(tmp_path / "rejects.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "rejects.parquet"), rejects)


def test_strict_message_names_file_line_column_value(tmp_path):
    train = _write_csv(tmp_path / "train.csv", [_row(0), _row(1)])
    val = _write_csv(
        tmp_path / "validation.csv",
        [_row(2, "ccccv"), _row(3, "ccccv"), _row(4, "ccccv", detect_scene_column="100")],
    )
    frames = {"train": read_label_file(train), "validation": read_label_file(val)}
    with pytest.raises(LabelValidationError) as info:
        validate_labels(frames, SCENES)
    msg = str(info.value)
    assert "validation.csv row 2 (line 4)" in msg
    assert "column detect_scene_column" in msg
    assert "value '100'" in msg
    assert "outside the scene" in msg
    assert "1 problem(s) in 1 row(s)" in msg


def test_strict_message_lists_first_ten_and_total():
    rows = [_row(i, detect_lon="999") for i in range(15)]
    with pytest.raises(LabelValidationError) as info:
        validate_labels({"train": _frame(rows)}, SCENES, label_files={"train": "my_train.csv"})
    msg = str(info.value)
    assert "15 problem(s) in 15 row(s)" in msg
    assert msg.count("my_train.csv row") == 10
    assert "my_train.csv row 9 (line 11)" in msg
    assert "my_train.csv row 10 " not in msg
    assert "5 more problem(s)" in msg


def test_strict_path_like_id_is_reported():
    with pytest.raises(LabelValidationError, match=r"column scene_id, value '\.\./evil'"):
        validate_labels({"train": _frame([_row(0, "../evil")])}, SCENES)


def test_missing_columns_in_frame():
    frame = _frame([_row(0)]).drop(columns=["detect_lat"])
    with pytest.raises(LabelValidationError, match=r"train\.csv.*detect_lat"):
        validate_labels({"train": frame}, SCENES, strict=False)


def test_typed_input_is_accepted():
    # A frame that was already parsed by pandas (numbers, booleans, NaN).
    typed = _frame([_row(0), _row(1, vessel_length_m="", is_vessel="")])
    typed = pd.read_csv(pd.io.common.StringIO(typed.to_csv(index=False)))
    result = validate_labels({"train": typed}, SCENES)
    assert result.labels["detect_scene_row"].tolist() == [10, 11]
    assert result.labels["is_vessel"].tolist() == [True, pd.NA]
    assert np.isnan(result.labels["vessel_length_m"].iloc[1])


# --- ingestion.validate_labels_in_root --------------------------------------------------


def _scene_root(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    raw = tmp_path / "raw"
    write_scene(raw, "train", "aaaat", height=32, width=40, ancillary=())
    write_scene(raw, "public", "pppp", height=32, width=40, ancillary=())
    return raw, ingestion.build_scene_index(raw)


def test_validate_labels_in_root(tmp_path):
    raw, index = _scene_root(tmp_path)
    _write_csv(raw / "train.csv", [_row(0), _row(1, detect_scene_column="40")])
    # validation.csv without validation scenes: fine, its rows are unknown scenes.
    _write_csv(raw / "validation.csv", [_row(2, "ccccv")])
    result = ingestion.validate_labels_in_root(raw, index, strict=False)
    assert result.labels["detect_id"].tolist() == ["aaaat_0"]
    assert result.rejects["label_file"].tolist() == ["train.csv", "validation.csv"]
    assert "outside the scene" in result.rejects["reason"].iloc[0]
    assert "unknown scene" in result.rejects["reason"].iloc[1]
    with pytest.raises(LabelValidationError, match=r"train.csv row 1 \(line 3\)"):
        ingestion.validate_labels_in_root(raw, index)


def test_validate_labels_in_root_missing_csv(tmp_path):
    raw, index = _scene_root(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"train\.csv"):
        ingestion.validate_labels_in_root(raw, index)
