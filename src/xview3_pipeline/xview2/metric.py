"""Command line of the official xView2 metric (no Kedro).

Usage::

    python -m xview3_pipeline.xview2.metric --pred DIR --targ DIR [--out SCORE.json]

``--pred`` holds ``test_localization_<id>_prediction.png`` and
``test_damage_<id>_prediction.png``, ``--targ`` the matching ``..._target.png`` (``hold_``
instead of ``test_`` works too). Prints ``score``, ``damage_f1``, ``localization_f1`` and
the four ``damage_f1_<class>`` as one JSON object on stdout, as the official
``xview2_metrics.py`` writes to its output file. Warnings go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from xview3_pipeline.core.xview2.metric import score_directories

logger = logging.getLogger("xview3_pipeline.xview2.metric")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the xView2 metric command line."""
    parser = argparse.ArgumentParser(
        prog="python -m xview3_pipeline.xview2.metric",
        description="Score xView2 damage predictions with the official metric.",
    )
    parser.add_argument(
        "--pred", required=True, type=Path, help="Folder of *_<id>_prediction.png masks."
    )
    parser.add_argument(
        "--targ", required=True, type=Path, help="Folder of *_<id>_target.png masks."
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="Also write the JSON to this file (atomically)."
    )
    parser.add_argument(
        "--log-level", default="WARNING", help="Logging level on stderr (default: %(default)s)."
    )
    return parser


def _write_json_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Run the xView2 metric command line.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        Exit status 0. Bad input raises with a message naming the file
        (``NotADirectoryError``, ``FileNotFoundError``, ``RasterReadError``,
        ``XView2MaskError``).
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    result = score_directories(args.pred, args.targ)
    text = json.dumps(result) + "\n"
    if args.out is not None:
        _write_json_atomic(args.out, text)
        logger.info("Wrote the score to %s.", args.out)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
