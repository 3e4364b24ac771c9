"""Ingestion of an xBD raw root: an index of image pairs and a validation of their labels.

The layout is the one of the released xBD data (see
:mod:`xview3_pipeline.core.xview2.synthetic.xbd`)::

    <raw_root>/<split>/images/<disaster>_<id>_{pre,post}_disaster.png   (or .tif)
    <raw_root>/<split>/labels/<disaster>_<id>_{pre,post}_disaster.json

What stops the ingestion (an error naming the file and the value) and what is recorded as
a reject, as in the xView3 ingestion (bad files stop, bad rows are rejects; ``strict``
turns rejects into an error too):

* stops: a missing raw root; no pair at all; a file or folder in a split folder other
  than ``images/`` and ``labels/``, or a file there not named as above
  (:class:`~xview3_pipeline.core.errors.DatasetLayoutError`); a post image without its pre
  image or the reverse, the same for labels, or a label without its image (also
  ``DatasetLayoutError``); pre and post images of different sizes
  (:class:`~xview3_pipeline.core.errors.SceneGeometryError`); an unreadable image
  (:class:`~xview3_pipeline.core.errors.RasterReadError`); a label file that is not valid
  JSON or has no ``features.xy`` list
  (:class:`~xview3_pipeline.core.errors.LabelValidationError`).
* rejects: features with a malformed WKT, an unknown subtype or a polygon outside the
  image (see :mod:`xview3_pipeline.core.xview2.labels`); they are left out of the counts
  and the masks. In strict mode any reject raises ``LabelValidationError`` listing them.

Hidden files (names starting with ``.``) are ignored everywhere.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from xview3_pipeline.core.errors import (
    DatasetLayoutError,
    LabelValidationError,
    RasterReadError,
    SceneGeometryError,
)
from xview3_pipeline.core.xview2.labels import (
    OUTSIDE_TOLERANCE_PX,
    REJECT_COLUMNS,
    ParsedLabel,
    load_label_json,
    parse_label,
)
from xview3_pipeline.core.xview2.synthetic.xbd import SUBTYPES, XVIEW2_SPLITS

logger = logging.getLogger(__name__)

#: Columns of the pair index, in order.
PAIR_INDEX_COLUMNS: Final[tuple[str, ...]] = (
    "pair_id", "split", "disaster", "disaster_type", "pre_image", "post_image",
    "pre_label", "post_label", "height", "width", "n_buildings", "n_no_damage",
    "n_minor_damage", "n_major_damage", "n_destroyed", "n_un_classified",
)  # fmt: skip
#: Count column of each subtype.
SUBTYPE_COLUMNS: Final[dict[str, str]] = {s: "n_" + s.replace("-", "_") for s in SUBTYPES}

_FILE = re.compile(r"^(?P<pair>[^_]+_[^_]+)_(?P<phase>pre|post)_disaster(?P<suffix>\.[a-z]+)$")
_IMAGE_SUFFIXES = (".png", ".tif")


@dataclass(frozen=True)
class PairIndex:
    """Output of :func:`index_pairs`.

    Attributes:
        index: One row per pair, columns :data:`PAIR_INDEX_COLUMNS`, sorted by split
            (in the order asked) and pair id.
        rejects: One row per rejected feature, columns :data:`REJECT_COLUMNS`.
    """

    index: pd.DataFrame
    rejects: pd.DataFrame


def _scan(folder: Path, suffixes: tuple[str, ...]) -> dict[str, dict[str, Path]]:
    """``pair_id -> {phase: path}`` of the files of ``images/`` or ``labels/``."""
    out: dict[str, dict[str, Path]] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        match = _FILE.match(path.name)
        if path.is_dir() or match is None or match["suffix"] not in suffixes:
            raise DatasetLayoutError(
                f"Unexpected {'folder' if path.is_dir() else 'file'} {path}: expected files "
                f"named <disaster>_<id>_{{pre,post}}_disaster{{{','.join(suffixes)}}}."
            )
        phases = out.setdefault(match["pair"], {})
        if match["phase"] in phases:
            raise DatasetLayoutError(
                f"Two {match['phase']} files for pair {match['pair']}: {phases[match['phase']]} "
                f"and {path}."
            )
        phases[match["phase"]] = path
    return out


def _check_complete(files: dict[str, dict[str, Path]], what: str) -> None:
    for phases in files.values():
        for have, lack in (("post", "pre"), ("pre", "post")):
            if have in phases and lack not in phases:
                path = phases[have]
                missing = path.with_name(path.name.replace(f"_{have}_", f"_{lack}_"))
                raise DatasetLayoutError(
                    f"{have.capitalize()} {what} {path} has no {lack} {what}: expected {missing}."
                )


def _size(path: Path) -> tuple[int, int]:
    """``(height, width)`` of an image, read from its header."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                return int(src.height), int(src.width)
    except RasterioIOError as exc:
        raise RasterReadError(f"Cannot read image {path}: {exc}") from exc


def label_for(
    raw_root: Path,
    truth_root: Path | None,
    *,
    split: str,
    post_label: str,
    pair_id: str,
    phase: str,
) -> Path | None:
    """The label file of one phase of a pair: in the raw root, else in the truth root.

    Args:
        raw_root: The raw root.
        truth_root: Root of the withheld labels (``<truth_root>/<split>/labels/``), or None.
        split: Split of the pair.
        post_label: The index's ``post_label`` ("" when the raw root has none).
        pair_id: The pair.
        phase: ``pre`` or ``post``.

    Returns:
        The path, or None when neither root has it.
    """
    name = f"{pair_id}_{phase}_disaster.json"
    if post_label:
        return raw_root / split / "labels" / name
    if truth_root is not None:
        path = truth_root / split / "labels" / name
        if path.is_file():
            return path
    return None


def read_pair_label(
    path: Path, *, source: str, post: bool, height: int, width: int, tolerance_px: float
) -> ParsedLabel:
    """Load and validate one label file (see :func:`~xview3_pipeline.core.xview2.labels.parse_label`)."""
    return parse_label(
        load_label_json(path), source=source, post=post, height=height, width=width,
        tolerance_px=tolerance_px,
    )  # fmt: skip


def _split_pairs(
    root: Path, split: str, truth_root: Path | None, tolerance_px: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    folder = root / split
    for entry in sorted(folder.iterdir()):
        if not entry.name.startswith(".") and entry.name not in ("images", "labels"):
            raise DatasetLayoutError(
                f"Unexpected {'folder' if entry.is_dir() else 'file'} {entry} in split folder "
                f"{folder}: expected only images/ and labels/."
            )
    images = _scan(folder / "images", _IMAGE_SUFFIXES)
    labels = _scan(folder / "labels", (".json",))
    _check_complete(images, "image")
    _check_complete(labels, "label")
    for pair_id in sorted(set(labels) - set(images)):
        raise DatasetLayoutError(
            f"Label {labels[pair_id]['post']} has no image: expected "
            f"{folder / 'images'}/{pair_id}_post_disaster.png."
        )
    rows, rejects = [], []
    for pair_id in sorted(images):
        pre, post = images[pair_id]["pre"], images[pair_id]["post"]
        (height, width), post_size = _size(pre), _size(post)
        if post_size != (height, width):
            raise SceneGeometryError(
                f"Pair {pair_id}: pre image {pre} is {height}x{width} px but post image "
                f"{post} is {post_size[0]}x{post_size[1]} px (height x width)."
            )
        pair_labels = labels.get(pair_id, {})
        row: dict[str, Any] = {
            "pair_id": pair_id, "split": split, "disaster": pair_id.rsplit("_", 1)[0],
            "disaster_type": "", "pre_image": pre.relative_to(root).as_posix(),
            "post_image": post.relative_to(root).as_posix(),
            "pre_label": "", "post_label": "", "height": height, "width": width,
            "n_buildings": 0, **dict.fromkeys(SUBTYPE_COLUMNS.values(), 0),
        }  # fmt: skip
        for phase in ("pre", "post"):
            raw_label = pair_labels.get(phase)
            path = raw_label or label_for(
                root, truth_root, split=split, post_label="", pair_id=pair_id, phase=phase
            )
            if path is None:
                continue
            in_raw = raw_label is not None
            source = path.relative_to(root if in_raw else truth_root).as_posix()  # type: ignore[arg-type]
            parsed = read_pair_label(
                path, source=source if in_raw else f"truth:{source}", post=phase == "post",
                height=height, width=width, tolerance_px=tolerance_px,
            )  # fmt: skip
            rejects += [
                {"pair_id": pair_id, "split": split, "phase": phase, **r} for r in parsed.rejects
            ]
            if not in_raw:
                continue
            row[f"{phase}_label"] = source
            row["disaster_type"] = row["disaster_type"] or str(
                parsed.metadata.get("disaster_type", "")
            )
            if phase == "post":
                row["n_buildings"] = len(parsed.buildings)
                for building in parsed.buildings:
                    row[SUBTYPE_COLUMNS[building.subtype]] += 1
        rows.append(row)
    return rows, rejects


def index_pairs(
    raw_root: str | Path,
    splits: Iterable[str] = XVIEW2_SPLITS,
    *,
    truth_root: str | Path | None = None,
    strict: bool = True,
    tolerance_px: float = OUTSIDE_TOLERANCE_PX,
) -> PairIndex:
    """Index the image pairs of a raw root and validate their labels.

    Args:
        raw_root: Root of the xBD layout.
        splits: Split folders to read (a missing one is skipped with a log line).
        truth_root: Root of withheld labels (``<truth_root>/<split>/labels/``, the
            synthetic test truth): labels found there for pairs without raw labels are
            validated too (their reject rows have ``file`` = ``truth:<relative path>``),
            but the index columns describe the raw root only.
        strict: Raise on any rejected feature (the default) instead of returning it.
        tolerance_px: How far (pixels) a polygon may reach outside its image.

    Returns:
        The pair index (columns :data:`PAIR_INDEX_COLUMNS`; paths relative to
        ``raw_root``, "" when absent; ``disaster_type`` from the label metadata, "" when
        no label; counts from the valid features of the post label, 0 when no label) and
        the reject table.

    Raises:
        FileNotFoundError: The raw root does not exist.
        DatasetLayoutError, SceneGeometryError, RasterReadError, LabelValidationError: See
            the module docstring; strict mode raises ``LabelValidationError`` on rejects.
    """
    root = Path(raw_root)
    truth = Path(truth_root) if truth_root is not None else None
    if not root.is_dir():
        raise FileNotFoundError(f"xBD raw root {root.absolute()} does not exist.")
    rows: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    for split in splits:
        if not (root / split).is_dir():
            logger.info("No split folder %s; skipping.", root / split)
            continue
        split_rows, split_rejects = _split_pairs(root, split, truth, tolerance_px)
        rows += split_rows
        rejects += split_rejects
        logger.info(
            "Indexed %d pairs of %s (%d rejected features).",
            len(split_rows),
            split,
            len(split_rejects),
        )
    if not rows:
        raise DatasetLayoutError(
            f"No image pair under raw root {root.absolute()} (splits {list(splits)}); expected "
            "<raw_root>/<split>/images/<disaster>_<id>_{pre,post}_disaster.png."
        )
    reject_table = pd.DataFrame(rejects, columns=list(REJECT_COLUMNS))
    if strict and len(reject_table):
        listed = "; ".join(
            f"{r.file} features.xy[{r.feature}] (uid {r.uid!r}) {r.value!r}: {r.reason}"
            for r in reject_table.head(20).itertuples()
        )
        raise LabelValidationError(
            f"{len(reject_table)} invalid label feature(s) under {root}: {listed}. Fix them or "
            "set xview2.ingestion.strict: false to set them aside."
        )
    index = pd.DataFrame(rows, columns=list(PAIR_INDEX_COLUMNS))
    return PairIndex(index=index, rejects=reject_table)


def build_pair_index(
    raw_root: str | Path, splits: Iterable[str] = XVIEW2_SPLITS, **kwargs: Any
) -> pd.DataFrame:
    """The pair index of a raw root (:attr:`PairIndex.index` of :func:`index_pairs`).

    Args:
        raw_root: Root of the xBD layout.
        splits: Split folders to read.
        **kwargs: ``truth_root``, ``strict``, ``tolerance_px`` of :func:`index_pairs`.

    Returns:
        One row per pair, columns :data:`PAIR_INDEX_COLUMNS`.
    """
    return index_pairs(raw_root, splits, **kwargs).index


def ingestion_report(index: pd.DataFrame, rejects: pd.DataFrame) -> dict[str, Any]:
    """Summary of an ingestion, for a person to read.

    Args:
        index: The pair index.
        rejects: The reject table.

    Returns:
        A JSON-serialisable mapping: pairs, labelled pairs and buildings per split; pairs,
        buildings and disaster type per event; buildings per damage subtype; rejected
        features in all, per split and per reason.
    """
    per_split = {
        str(split): {
            "pairs": len(group),
            "labelled_pairs": int((group["post_label"] != "").sum()),
            "buildings": int(group["n_buildings"].sum()),
        }
        for split, group in index.groupby("split", sort=False)
    }
    per_event = {
        str(event): {
            "disaster_type": next((t for t in group["disaster_type"] if t), ""),
            "pairs": len(group),
            "buildings": int(group["n_buildings"].sum()),
        }
        for event, group in index.groupby("disaster")
    }
    reasons = (
        rejects["reason"].astype(str).str.split(":").str[0].value_counts() if len(rejects) else {}
    )
    return {
        "pairs": len(index),
        "buildings": int(index["n_buildings"].sum()),
        "per_split": per_split,
        "per_event": per_event,
        "per_damage_class": {s: int(index[c].sum()) for s, c in SUBTYPE_COLUMNS.items()},
        "rejected_features": len(rejects),
        "rejects_per_split": {str(k): int(v) for k, v in rejects["split"].value_counts().items()}
        if len(rejects)
        else {},
        "reject_reasons": {str(k): int(v) for k, v in dict(reasons).items()},
    }
