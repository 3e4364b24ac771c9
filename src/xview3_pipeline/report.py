"""Print the scores of the learned model and of the CFAR baseline on the test scenes.

``python -m xview3_pipeline.report [--reporting data/08_reporting]`` reads
``test_score_report.json`` and ``cfar_score_report.json`` (written by the ``submission``
and ``cfar_baseline`` pipelines) and prints the six official components side by side.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from xview3_pipeline.core.constants import COMPONENTS as OFFICIAL_ORDER

#: The aggregate first, then the other components in the official order.
COMPONENTS = ("aggregate", *(name for name in OFFICIAL_ORDER if name != "aggregate"))
REPORTS = {
    "CircleNet ensemble": "test_score_report.json",
    "CFAR baseline": "cfar_score_report.json",
}


def summary(reporting: Path) -> str:
    """A text table of the test scores found under ``reporting``.

    Args:
        reporting: The ``08_reporting`` folder.

    Returns:
        The table, or a line saying which reports are missing or have no truth.
    """
    columns: dict[str, dict[str, float] | str] = {}
    for name, filename in REPORTS.items():
        path = reporting / filename
        if not path.is_file():
            columns[name] = "missing"
            continue
        report = json.loads(path.read_text())
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
