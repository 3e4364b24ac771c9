"""Print the test scores of both detectors side by side.

``python -m xview3_pipeline.report [--reporting data/08_reporting]`` reads
``<reporting>/<detector>/test_score_report.json`` for the detectors ``cnn`` and ``cfar``
(the ``{detector}.test_score_report`` entries written by the evaluation pipeline, also
run as ``submission`` and ``cfar_baseline``) and prints the six official components; when
the reports score in-distribution and out-of-distribution scenes apart (``by_domain``),
a second table shows both domains side by side with the CNN's margin over CFAR.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from xview3_pipeline.core.constants import COMPONENTS as OFFICIAL_ORDER
from xview3_pipeline.core.robustness import DOMAINS, margin_name

#: The aggregate first, then the other components in the official order.
COMPONENTS = ("aggregate", *(name for name in OFFICIAL_ORDER if name != "aggregate"))
#: The evaluation namespaces, with the column title used when a report is missing.
DETECTORS: dict[str, str] = {"cnn": "CircleNet ensemble", "cfar": "CFAR baseline"}
REPORT_FILE = "test_score_report.json"


def report_path(reporting: Path, detector: str) -> Path:
    """Where ``{detector}.test_score_report`` is written under ``reporting``."""
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
        reporting: The ``08_reporting`` folder.

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
    return "\n".join(lines + notes + domain_table(reports)) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reporting", type=Path, default=Path("data/08_reporting"))
    args = parser.parse_args(argv)
    sys.stdout.write(summary(args.reporting))


if __name__ == "__main__":
    main()
