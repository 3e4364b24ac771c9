"""Print the xView2 scores of the siamese ensemble and of the early-fusion baseline.

``python -m xview3_pipeline.xview2.report [--reporting data/08_reporting/xview2]`` reads
``score_report.json`` and ``baseline_score_report.json`` (the catalog entries
``xview2_score_report`` and ``xview2_baseline_score_report`` written by
``xview2_submission``) and prints the official score, its localization and damage F1 and
the four per-class damage F1 side by side. Exits with 1 when neither report exists.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xview3_pipeline.core.xview2.metric import SCORE_KEYS

logger = logging.getLogger("xview3_pipeline.xview2.report")

DEFAULT_REPORTING = Path("data/08_reporting/xview2")
#: Report file -> column title.
REPORTS: dict[str, str] = {
    "score_report.json": "siamese ensemble",
    "baseline_score_report.json": "early-fusion baseline",
}


def _value(report: dict[str, Any] | None, key: str) -> str:
    if report is None:
        return "-"
    value = report.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{float(value):.4f}"


def score_table(reports: dict[str, dict[str, Any] | None]) -> list[str]:
    """Lines of the table: one row per metric key, one column per report."""
    titles = list(reports)
    width = max(len(k) for k in SCORE_KEYS) + 2
    lines = ["".ljust(width) + "".join(t.rjust(24) for t in titles)]
    for key in SCORE_KEYS:
        lines.append(key.ljust(width) + "".join(_value(reports[t], key).rjust(24) for t in titles))
    return lines


def read_reports(reporting: Path) -> dict[str, dict[str, Any] | None]:
    """``title -> report`` (None where the file is missing) for :data:`REPORTS`."""
    out: dict[str, dict[str, Any] | None] = {}
    for name, title in REPORTS.items():
        path = reporting / name
        out[title] = json.loads(path.read_text()) if path.is_file() else None
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table; 1 when no report is found."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reporting", type=Path, default=DEFAULT_REPORTING)
    args = parser.parse_args(argv)
    reports = read_reports(args.reporting)
    if all(r is None for r in reports.values()):
        logger.error(
            "No xView2 score report under %s: run `kedro run --pipelines xview2` first.",
            args.reporting,
        )
        return 1
    sys.stdout.write("xView2 score on the test pairs\n" + "\n".join(score_table(reports)) + "\n")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    raise SystemExit(main())
