"""Print the test scores of both detectors side by side, or compare experiments.

``python -m xview3_pipeline.report [--experiment default] [--reporting data/08_reporting]``
reads ``<reporting>/<experiment>/<detector>/test_score_report.json`` for the detectors
``cnn`` and ``cfar`` (the ``{detector}.test_score_report`` entries written by the evaluation
pipeline, also run as ``submission`` and ``cfar_baseline``) and prints the six official
components; when the reports score in-distribution and out-of-distribution scenes apart
(``by_domain``), a second table shows both domains side by side with the CNN's margin over
CFAR.

``python -m xview3_pipeline.report --compare exp_validation_only exp_raw_train ...`` prints
one row per experiment: the CNN's CV aggregate (mean over the folds and pooled, from
``cnn/cv_scores.csv``), its test aggregate, the in- and out-of-distribution test aggregates
(``by_domain`` of the report, when the test scenes have domains) and the same test
aggregates of CFAR, with the CNN-minus-CFAR margin out of distribution.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from xview3_pipeline.core.constants import COMPONENTS as OFFICIAL_ORDER
from xview3_pipeline.core.robustness import DOMAINS, margin_name

#: The aggregate first, then the other components in the official order.
COMPONENTS = ("aggregate", *(name for name in OFFICIAL_ORDER if name != "aggregate"))
#: The evaluation namespaces, with the column title used when a report is missing.
DETECTORS: dict[str, str] = {"cnn": "CircleNet ensemble", "cfar": "CFAR baseline"}
REPORT_FILE = "test_score_report.json"
CV_FILE = "cv_scores.csv"
DEFAULT_REPORTING = Path("data/08_reporting")
DEFAULT_EXPERIMENT = "default"
#: Columns of the comparison, in order.
COMPARISON_COLUMNS = (
    "cv_mean",
    "cv_pooled",
    "test",
    "test_in",
    "test_ood",
    "cfar_test",
    "cfar_ood",
    "ood_margin",
)


def report_path(reporting: Path, detector: str) -> Path:
    """Where ``{detector}.test_score_report`` is written under an experiment's ``reporting``."""
    return reporting / detector / REPORT_FILE


def domain_table(reports: dict[str, dict[str, Any]]) -> list[str]:
    """Lines of the in vs out-of-distribution table, or none when no report has both.

    Args:
        reports: ``detector -> test score report`` of the detectors whose report exists.

    Returns:
        A title, a header (``cnn in``, ``cnn ood``, …, ``cnn_minus_cfar in``, …), the
        scene counts and one line per component; empty without ``by_domain`` scores.
    """
    by_domain = {
        d: r["by_domain"] for d, r in reports.items() if set(DOMAINS) <= set(r.get("by_domain", {}))
    }
    if not by_domain:
        return []
    columns = {f"{d} {m}": scores[m] for d, scores in by_domain.items() for m in DOMAINS}
    counts = {
        f"{d} {m}": f"{len(reports[d].get('domain_scenes', {}).get(m, []))}"
        for d in by_domain
        for m in DOMAINS
    }
    first, second = DETECTORS
    if {first, second} <= set(by_domain):
        for m in DOMAINS:
            a, b = by_domain[first][m], by_domain[second][m]
            columns[f"{margin_name(first, second)} {m}"] = {c: a[c] - b[c] for c in COMPONENTS}
            counts[f"{margin_name(first, second)} {m}"] = ""
    width = max(14, *(len(name) + 2 for name in columns))
    lines = [
        "",
        "In-distribution vs out-of-distribution test scenes",
        f"{'component':<18}" + "".join(f"{n:>{width}}" for n in columns),
        f"{'n_scenes':<18}" + "".join(f"{counts[n]:>{width}}" for n in columns),
    ]
    for component in COMPONENTS:
        lines.append(
            f"{component:<18}" + "".join(f"{v[component]:>{width}.4f}" for v in columns.values())
        )
    return lines


def summary(reporting: Path) -> str:
    """A text table of the test scores found under ``reporting``.

    Args:
        reporting: One experiment's reporting folder (``data/08_reporting/<experiment>``).

    Returns:
        The table, or a line saying which reports are missing or have no truth; then the
        in vs out-of-distribution table when the reports have one (:func:`domain_table`).
    """
    columns: dict[str, dict[str, float] | str] = {}
    reports: dict[str, dict[str, Any]] = {}
    for detector, title in DETECTORS.items():
        path = report_path(reporting, detector)
        if not path.is_file():
            columns[title] = f"missing ({path})"
            continue
        report = reports[detector] = json.loads(path.read_text())
        name = str(report.get("detector") or title)
        columns[name] = report.get("scores") or "no truth for the test scenes"
    lines = [
        "xView3 scores on the test scenes",
        f"{'component':<18}" + "".join(f"{n:>22}" for n in columns),
    ]
    for component in COMPONENTS:
        row = f"{component:<18}"
        for value in columns.values():
            row += f"{value[component]:>22.4f}" if isinstance(value, dict) else f"{'-':>22}"
        lines.append(row)
    notes = [f"{n}: {v}" for n, v in columns.items() if not isinstance(v, dict)]
    return "\n".join(lines + notes + domain_table(reports) + ceiling_lines(reports)) + "\n"


def ceiling_lines(reports: dict[str, dict[str, Any]]) -> list[str]:
    """The aggregate of each detector's detections with the truth's attributes.

    Args:
        reports: ``detector -> test score report`` (``true_attributes``, when present).

    Returns:
        A title and one line per detector (all scenes, then each domain); empty when no
        report has ``true_attributes``.
    """
    lines = []
    for detector, report in reports.items():
        ceiling = report.get("true_attributes") or {}
        if ceiling:
            parts = ", ".join(f"{d} {c['aggregate']:.4f}" for d, c in ceiling.items())
            lines.append(f"{DETECTORS.get(detector, detector)}: {parts}")
    if not lines:
        return []
    return [
        "",
        "Aggregate with the truth's vessel, fishing and length on the same detections",
        *lines,
    ]


def _aggregate(scores: Any) -> float:
    if isinstance(scores, Mapping):
        scores = scores.get("scores", scores)
    value = scores.get("aggregate") if isinstance(scores, Mapping) else None
    return float(value) if isinstance(value, int | float) else math.nan


def _test_aggregates(folder: Path, detector: str) -> tuple[float, float, float]:
    """(all, in, ood) test aggregates of one detector; NaN where missing."""
    path = report_path(folder, detector)
    if not path.is_file():
        return math.nan, math.nan, math.nan
    report = json.loads(path.read_text())
    domains = report.get("by_domain") or {}
    return (
        _aggregate(report.get("scores")),
        _aggregate(domains.get("in")),
        _aggregate(domains.get("ood")),
    )


def _cv_aggregates(folder: Path) -> tuple[float, float]:
    """(mean over folds, pooled) CV aggregate of the CNN; NaN where missing."""
    path = folder / "cnn" / CV_FILE
    if not path.is_file():
        return math.nan, math.nan
    table = pd.read_csv(path, dtype={"fold": str})
    folds = table[table["fold"] != "all"]
    pooled = table.loc[table["fold"] == "all", "aggregate"]
    return (
        float(folds["aggregate"].mean()) if len(folds) else math.nan,
        float(pooled.iloc[0]) if len(pooled) else math.nan,
    )


def comparison(reporting: Path, experiments: Sequence[str]) -> pd.DataFrame:
    """CV, test and out-of-distribution aggregates per experiment (NaN where not run).

    Args:
        reporting: The ``08_reporting`` folder holding one folder per experiment.
        experiments: Experiment names, in the order of the rows.

    Returns:
        One row per experiment (index ``experiment``), columns :data:`COMPARISON_COLUMNS`.
    """
    rows = []
    for name in experiments:
        folder = reporting / name
        cv_mean, cv_pooled = _cv_aggregates(folder)
        test, test_in, test_ood = _test_aggregates(folder, "cnn")
        cfar_test, _, cfar_ood = _test_aggregates(folder, "cfar")
        rows.append(
            {
                "experiment": name,
                "cv_mean": cv_mean,
                "cv_pooled": cv_pooled,
                "test": test,
                "test_in": test_in,
                "test_ood": test_ood,
                "cfar_test": cfar_test,
                "cfar_ood": cfar_ood,
                "ood_margin": test_ood - cfar_ood,
            }
        )
    return pd.DataFrame(rows, columns=["experiment", *COMPARISON_COLUMNS]).set_index("experiment")


def comparison_text(table: pd.DataFrame) -> str:
    """The comparison as a text table (``-`` where a value is missing)."""
    width = max([len("experiment"), *(len(str(n)) for n in table.index)]) + 2
    lines = [
        "Aggregate scores per experiment (CNN; CFAR for reference)",
        f"{'experiment':<{width}}" + "".join(f"{c:>12}" for c in table.columns),
    ]
    for name, row in table.iterrows():
        cells = "".join(f"{'-':>12}" if math.isnan(v) else f"{v:>12.4f}" for v in row)
        lines.append(f"{name!s:<{width}}{cells}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reporting", type=Path, default=DEFAULT_REPORTING)
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT)
    parser.add_argument(
        "--compare", nargs="+", metavar="EXPERIMENT", help="compare these experiments"
    )
    args = parser.parse_args(argv)
    if args.compare:
        sys.stdout.write(comparison_text(comparison(args.reporting, args.compare)))
    else:
        sys.stdout.write(summary(args.reporting / args.experiment))


if __name__ == "__main__":
    main()
