"""Model ensemble with left-right flip TTA, and its export as one ``torch.export`` artefact.

The winner traced ``TTA(Ensemble(Sigmoid(model)))`` with ``torch.jit.trace``. Here
:class:`CircleNetEnsemble` is that module: sigmoid on objectness / vessel / fishing per
model, then the mean over models; length (log space) and offsets averaged raw; optional
``fliplr`` TTA around it.

Flip geometry (output stride ``s``, pixel ``c`` at coordinate ``c``, the coder's
convention: ``cell = floor(cx / s)``, ``dx = cx / s - cell``). Mirroring the input maps
``cx → cx' = W - 1 - cx``; the flipped map's peak sits in ``cell' = floor(cx' / s)`` with
``dx' = cx' / s - cell'``; flipping the output back puts it in column
``j = W / s - 1 - cell'``. Solving ``(j + dx_corr) · s = cx`` gives

    ``dx_corr = 1 - 1/s - dx'``  (``0.5 - dx'`` at ``s = 2``),

in ``(-1/s, 1 - 1/s]``: the flipped peak lands in the unflipped cell ``floor(cx / s)``
when ``dx <= 1 - 1/s`` (every integer pixel position, i.e. every label, at ``s = 2``) and
one cell to the right otherwise, with a negative corrected offset. ``1 - dx'`` would be
right only for pixel-area coordinates (mirror ``cx → W - cx``). The winner stored ``dx'``
unchanged (``flip_offset_correction=False``): averaged with the unflipped pass this biases
every x by up to ±0.5 px (``(dx + 0.5 - dx) / 2 = 0.25`` instead of ``dx``).

Export: :func:`export_ensemble` uses ``torch.export.export`` (static tile height and
width, dynamic batch) and ``torch.export.save``; the ``.pt2`` archive holds the graph (JSON)
and raw weight bytes, so :func:`load_exported` needs only torch, no model code.
``torch.export.load`` falls back to ``pickle`` for tensor subclasses, custom objects and
example inputs it cannot load with ``weights_only=True``; :func:`load_exported` inspects the
archive first and refuses any such entry, so loading never unpickles arbitrary objects. It
also checks every member's CRC (``torch.export.load`` does not: overwritten weight bytes
would load and yield NaN maps) and refuses non-finite weights, naming the tensor. The
export writes to a temporary file beside the destination and renames it, so a failed
export leaves no partial file and no folder it created.
``torch.jit.trace`` (the winner's choice) is deprecated in torch 2.14 and is not used.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xview3_pipeline.core.errors import ModelFileError
from xview3_pipeline.core.serialization import (
    atomic_write_path,
    check_archive_integrity,
    check_finite_tensors,
    first_non_finite,
)

__all__ = [
    "CircleNetEnsemble",
    "EnsembleOutputs",
    "export_ensemble",
    "flip_offset_x",
    "load_exported",
]

logger = logging.getLogger(__name__)

#: ``(objectness_prob, vessel_prob, fishing_prob, length, offset)``: four ``(B, 1, h, w)``
#: maps and the ``(B, 2, h, w)`` offset ``(dx, dy)``.
EnsembleOutputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]

#: Name of the metadata entry written into exported archives.
META_FILE = "xview3_inference_meta.json"
_META_FORMAT = "xview3_pipeline.circlenet_ensemble/1"
#: Archive folders of compiled or alternative payloads this loader does not accept.
_FOREIGN_DIRS = frozenset({"aotinductor", "executorch", "mtia", "xl_model_weights"})


def flip_offset_x(offset_x: torch.Tensor, stride: int) -> torch.Tensor:
    """Sub-cell x offset of a flipped-back map in the unflipped frame.

    Args:
        offset_x: Offsets ``dx'`` predicted on the mirrored input, already flipped back to
            the unflipped column order (any shape).
        stride: Output stride ``s``.

    Returns:
        ``1 - 1/s - dx'`` (see the module docstring for the derivation).
    """
    return (1.0 - 1.0 / stride) - offset_x


class CircleNetEnsemble(nn.Module):
    """Mean of CircleNets with optional left-right flip TTA (the winner's traced module).

    Args:
        models: CircleNets (or modules with the same output: a :class:`CircleNetOutputs`
            or a 5-tuple ``(objectness, vessel, fishing, length, offset)`` of logits /
            raw maps at the output stride).
        flip_tta: Also run on the mirrored input, flip the outputs back and average.
        flip_offset_correction: Map the flipped pass's x offset through
            :func:`flip_offset_x`; ``False`` keeps the winner's uncorrected offsets.
        stride: Output stride; by default the first model's ``output_stride`` or 2.

    Example:
        >>> from xview3_pipeline.core.models import build_model
        >>> ens = CircleNetEnsemble([build_model("cpu_small").eval()])  # doctest: +SKIP
        >>> obj, vessel, fishing, length, offset = ens(torch.zeros(1, 2, 64, 64))  # doctest: +SKIP
    """

    def __init__(
        self,
        models: Sequence[nn.Module],
        flip_tta: bool = True,
        flip_offset_correction: bool = True,
        stride: int | None = None,
    ) -> None:
        super().__init__()
        if len(models) == 0:
            raise ValueError("CircleNetEnsemble needs at least one model.")
        self.models = nn.ModuleList(models)
        self.flip_tta = bool(flip_tta)
        self.flip_offset_correction = bool(flip_offset_correction)
        self.stride = int(stride) if stride else int(getattr(models[0], "output_stride", 2))

    def extra_repr(self) -> str:
        """Settings shown by ``repr``."""
        return (
            f"n_models={len(self.models)}, flip_tta={self.flip_tta}, "
            f"flip_offset_correction={self.flip_offset_correction}, stride={self.stride}"
        )

    def _mean_over_models(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Sigmoid-then-mean of the probability maps, mean of the raw maps."""
        total: list[torch.Tensor] = []
        # Eager: average in float32. Exported: no dtype casts in the graph (torch.export
        # pins them with dtype asserts, which would break autocast at run time).
        upcast = not torch.compiler.is_exporting()
        for model in self.models:
            out = model(x)
            maps = [t.float() if upcast else t for t in out[:5]]
            maps = [maps[0].sigmoid(), maps[1].sigmoid(), maps[2].sigmoid(), maps[3], maps[4]]
            total = maps if not total else [a + b for a, b in zip(total, maps, strict=True)]
        scale = 1.0 / len(self.models)
        return [t * scale for t in total]

    def forward(self, x: torch.Tensor) -> EnsembleOutputs:
        """Predict the averaged maps of a batch of tiles.

        Args:
            x: ``(B, 2, H, W)`` normalised ``[VH, VV]`` (NaN already set to 0).

        Returns:
            ``(objectness_prob, vessel_prob, fishing_prob, length, offset)``,
            ``(B, 1, H/s, W/s)`` each and ``(B, 2, H/s, W/s)`` for the offset; float32 in
            eager mode, the compute dtype (e.g. fp16 under autocast) in an exported graph.
        """
        maps = self._mean_over_models(x)
        if self.flip_tta:
            flipped = [t.flip(-1) for t in self._mean_over_models(x.flip(-1))]
            if self.flip_offset_correction:
                off = flipped[4]
                flipped[4] = torch.cat([flip_offset_x(off[:, :1], self.stride), off[:, 1:]], 1)
            maps = [(a + b) * 0.5 for a, b in zip(maps, flipped, strict=True)]
        return maps[0], maps[1], maps[2], maps[3], maps[4]


def export_ensemble(
    ensemble: nn.Module,
    example_shape: Sequence[int],
    path: str | Path,
    *,
    dynamic_batch: bool = True,
    max_batch: int = 256,
) -> Path:
    """Export a module (e.g. :class:`CircleNetEnsemble`) as one ``.pt2`` artefact.

    The module is exported in eval mode on CPU, with a static tile height and width and,
    by default, a dynamic batch dimension, then saved with ``torch.export.save`` together
    with a small JSON metadata entry (:data:`META_FILE`: tile shape, stride, TTA flags).

    Args:
        ensemble: Module mapping ``(B, 2, H, W)`` to the five maps of
            :data:`EnsembleOutputs`; it is switched to eval mode and moved to CPU, in place.
        example_shape: ``(B, 2, H, W)`` of an example input; ``H`` and ``W`` are fixed in
            the artefact (the tile size), ``B`` is only an example when ``dynamic_batch``
            (a batch of 1 is traced as 2: torch.export specialises size-1 dimensions).
        path: Output file (``.pt2`` by convention); parent folders are created (and
            removed again if the export fails).
        dynamic_batch: Export the batch size as a symbolic dimension ``1..max_batch``.
        max_batch: Upper bound of the dynamic batch size.

    Returns:
        The path written.

    Raises:
        ValueError: If ``example_shape`` is not 4-D or a weight is not finite (named).
    """
    shape = tuple(int(v) for v in example_shape)
    if len(shape) != 4:
        raise ValueError(f"export_ensemble: example_shape must be (B, C, H, W), got {shape}.")
    path = Path(path)
    ensemble = ensemble.eval().cpu()
    bad = first_non_finite(ensemble.state_dict())
    if bad is not None:
        raise ValueError(
            f"Refusing to export to {path}: tensor {bad!r} of the ensemble holds NaN or "
            "infinite values."
        )
    dynamic_shapes: Any = None
    if dynamic_batch:
        # torch.export specialises size-1 dimensions: trace with a batch of at least 2.
        shape = (max(2, shape[0]), *shape[1:])
        dynamic_shapes = ({0: torch.export.Dim("batch", min=1, max=int(max_batch))},)
    with torch.no_grad():
        example = torch.rand(shape, generator=torch.Generator().manual_seed(0))
        program = torch.export.export(ensemble, (example,), dynamic_shapes=dynamic_shapes)
    meta = {
        "format": _META_FORMAT,
        "torch": torch.__version__,
        "input_shape": list(shape[1:]),
        "dynamic_batch": bool(dynamic_batch),
        "stride": int(getattr(ensemble, "stride", 2)),
        "flip_tta": getattr(ensemble, "flip_tta", None),
        "flip_offset_correction": getattr(ensemble, "flip_offset_correction", None),
        "n_models": len(getattr(ensemble, "models", [])) or None,
    }
    with atomic_write_path(path) as tmp:
        torch.export.save(program, tmp, extra_files={META_FILE: json.dumps(meta)})
    logger.info(
        "Exported %s to %s (input %s, dynamic batch %s)",
        type(ensemble).__name__,
        path,
        shape,
        dynamic_batch,
    )
    return path


def _config_entries(archive: zipfile.ZipFile, name: str, path: Path) -> dict[str, Any]:
    """``config`` of a weights/constants config member, ``{fqn: {path_name, use_pickle}}``."""
    try:
        entries = json.loads(archive.read(name)).get("config", {})
        if isinstance(entries, dict) and all(isinstance(m, dict) for m in entries.values()):
            return entries
    except (ValueError, AttributeError):
        pass
    raise ModelFileError(f"{path} is not a valid torch.export archive: {name} is unreadable.")


def _check_archive(path: Path) -> None:
    """Refuse a ``.pt2`` archive that ``torch.export.load`` would partly unpickle.

    Raises:
        ModelFileError: On a truncated or corrupt archive (a member's CRC), a pickled
            weight / constant, a custom or opaque object constant, a legacy single-file
            weight store, an AOTInductor package, or example inputs that do not load with
            ``weights_only=True``.
    """
    check_archive_integrity(path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        problems: list[str] = []
        configs = [
            n for n in names if n.endswith(("_weights_config.json", "_constants_config.json"))
        ]
        if not configs:
            problems.append("no weights/constants config (legacy or foreign format)")
        for name in configs:
            for fqn, meta in _config_entries(archive, name, path).items():
                path_name = str(meta.get("path_name", ""))
                if meta.get("use_pickle", False):
                    problems.append(f"pickled entry {fqn!r}")
                elif name.endswith("_constants_config.json") and not path_name.startswith(
                    "tensor_"
                ):
                    problems.append(f"non-tensor constant {fqn!r} ({path_name})")
        for name in names:
            parts = name.split("/")
            if _FOREIGN_DIRS.intersection(parts) or name.endswith((".so", ".cpp")):
                problems.append(f"unsupported entry {name!r}")
            if len(parts) >= 2 and parts[-2] in {"weights", "constants"} and name.endswith(".pt"):
                problems.append(f"legacy pickled store {name!r}")
            if "sample_inputs" in parts and archive.getinfo(name).file_size > 0:
                try:
                    torch.load(io.BytesIO(archive.read(name)), weights_only=True)
                except Exception as exc:
                    problems.append(f"example inputs need unpickling ({type(exc).__name__})")
    if problems:
        raise ModelFileError(
            f"Refusing to load {path}: it holds entries torch.export.load would unpickle: "
            f"{problems[:5]}."
        )


def load_exported(path: str | Path, device: str | torch.device | None = None) -> nn.Module:
    """Load an artefact of :func:`export_ensemble` as a callable module.

    Args:
        path: The ``.pt2`` file.
        device: Move the program's weights there (``torch.export`` device pass); CPU when
            ``None``.

    Returns:
        An ``nn.Module`` (``torch.fx.GraphModule``) mapping ``(B, 2, H, W)`` to the five
        maps; its ``xview3_meta`` attribute holds the metadata written at export (``{}``
        for archives from elsewhere) and ``xview3_source`` the absolute path of the file.
        It is already in eval mode and cannot be switched.

    Raises:
        ModelFileError: If the archive is truncated or corrupt, holds anything that would
            be unpickled, cannot be loaded as a program, or has a non-finite weight.
        FileNotFoundError: If ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No exported model at {path}.")
    _check_archive(path)
    extra: dict[str, Any] = {META_FILE: ""}
    try:
        program = torch.export.load(path, extra_files=extra)
    except Exception as exc:  # any failure of the loader means a bad archive
        raise ModelFileError(
            f"{path} cannot be loaded as an exported ensemble ({type(exc).__name__}: {exc}); "
            "export the ensemble again."
        ) from exc
    check_finite_tensors({**program.state_dict, **program.constants}, name=str(path))
    if device is not None and torch.device(device).type != "cpu":
        from torch.export.passes import move_to_device_pass  # noqa: PLC0415 (optional path)

        program = move_to_device_pass(program, torch.device(device))
    module = program.module()
    try:
        meta = json.loads(extra[META_FILE]) if extra[META_FILE] else {}
    except json.JSONDecodeError:
        meta = {}
    # xview3_source lets a detector travel to other processes as its file (transport.py).
    vars(module).update(xview3_meta=meta, xview3_exported=True, xview3_source=str(path.resolve()))
    return module
