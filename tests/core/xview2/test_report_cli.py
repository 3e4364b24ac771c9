"""``python -m xview3_pipeline.xview2.report``: the two scores side by side."""

from __future__ import annotations

import json

from xview3_pipeline.core.xview2.metric import SCORE_KEYS
from xview3_pipeline.xview2.report import main


def test_prints_both_reports_and_marks_a_missing_value(tmp_path, capsys):
    ensemble = {k: 0.5 for k in SCORE_KEYS} | {"score": 0.6123}
    baseline = {k: 0.25 for k in SCORE_KEYS} | {"damage_f1_destroyed": None}
    (tmp_path / "score_report.json").write_text(json.dumps(ensemble))
    (tmp_path / "baseline_score_report.json").write_text(json.dumps(baseline))
    assert main(["--reporting", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "siamese ensemble" in out[1] and "early-fusion baseline" in out[1]
    rows = {line.split()[0]: line.split()[1:] for line in out[2:]}
    assert set(rows) == set(SCORE_KEYS)
    assert rows["score"] == ["0.6123", "0.2500"]
    assert rows["damage_f1_destroyed"] == ["0.5000", "n/a"]


def test_a_missing_report_is_a_dash_and_none_is_an_error(tmp_path, capsys):
    (tmp_path / "score_report.json").write_text(json.dumps({k: 0.5 for k in SCORE_KEYS}))
    assert main(["--reporting", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[2].split()[-1] == "-"
    assert main(["--reporting", str(tmp_path / "nothing")]) == 1
