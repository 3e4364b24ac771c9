"""Print the test scores of both detectors side by side.

``python -m xview3_pipeline.report [--reporting data/08_reporting]`` reads
``<reporting>/<detector>/test_score_report.json`` for the detectors ``cnn`` and ``cfar``
(the ``{detector}.test_score_report`` entries written by the evaluation pipeline, also
run as ``submission`` and ``cfar_baseline``) and prints the six official components.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from xview3_pipeline.core.constants import COMPONENTS as OFFICIAL_ORDER

#: The aggregate first, then the other components in the official order.
COMPONENTS = ("aggregate", *(name for name in OFFICIAL_ORDER if name != "aggregate"))
#: The evaluation namespaces, with the column title used when a report is missing.
DETECTORS: dict[str, str] = {"cnn": "CircleNet ensemble", "cfar": "CFAR baseline"}
REPORT_FILE = "test_score_report.json"


def report_path(reporting: Path, detector: str) -> Path:
    """Where ``{detector}.test_score_report`` is written under ``reporting``."""
    return reporting / detector / REPORT_FILE


def summary(reporting: Path) -> str:
    """A text table of the test scores found under ``reporting``.

    Args:
        reporting: The ``08_reporting`` folder.

    Returns:
        The table, or a line saying which reports are missing or have no truth.
    """
    columns: dict[str, dict[str, float] | str] = {}
    for detector, title in DETECTORS.items():
        path = report_path(reporting, detector)
        if not path.is_file():
            columns[title] = f"missing ({path})"
            continue
        report = json.loads(path.read_text())
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
    return "\n".join(lines + notes) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reporting", type=Path, default=Path("data/08_reporting"))
    args = parser.parse_args(argv)
    sys.stdout.write(summary(args.reporting))


if __name__ == "__main__":
    main()
