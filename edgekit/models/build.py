"""Build or load the PyTorch detector and prepare it for export. Imports torch lazily."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

from .._lazy import require
from ..errors import UsageError
from ..families import family_of, family_of_yaml, get_family
from .source import ModelSource

DEFAULT_SEED = 0
MAX_DET = 300
log = logging.getLogger("edgekit")


@dataclass
class LoadedModel:
    model: Any  # torch.nn.Module (an Ultralytics DetectionModel / RTDETRDetectionModel)
    family: str  # a registered family's name (edgekit.families)
    names: dict[int, str]
    source: ModelSource
    seed: int | None
    notes: list[str] = field(default_factory=list)
    bn_recalibrated: bool = False
    #: YOLO: which head was exported and why ({"exported", "reason", "checkpoint_mode"})
    head_choice: dict[str, Any] = field(default_factory=dict)

    @property
    def head(self) -> Any:
        return self.model.model[-1]


def _quiet_ultralytics() -> None:
    try:
        from ultralytics.utils import LOGGER

        LOGGER.setLevel(logging.WARNING)
    except Exception:  # pragma: no cover - cosmetic only
        pass


def _coco_names(nc: int) -> dict[int, str]:
    if nc == 80:
        try:
            from ultralytics.utils import YAML
            from ultralytics.utils.checks import check_yaml

            names = YAML.load(check_yaml("coco.yaml"))["names"]
            return {int(k): str(v) for k, v in names.items()}
        except Exception:
            pass
    return {i: f"class{i}" for i in range(nc)}


def load_model(src: ModelSource, *, seed: int = DEFAULT_SEED,
               end2end: bool | None = None) -> LoadedModel:
    """Load a checkpoint or build a YAML with a fixed seed; returns an eval-mode fp32 model.

    ``end2end`` picks the YOLO head: None follows the checkpoint's own mode, as Ultralytics'
    ``val`` and ``export`` do (a YAML-built model gets the one-to-one head)."""
    torch = require("torch", purpose="export")
    require("ultralytics", purpose="export")
    _quiet_ultralytics()
    notes: list[str] = []
    used_seed: int | None = None
    if src.kind == "checkpoint":
        from .checkpoint import load_detection_model

        assert src.path is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = load_detection_model(src.path, trust=src.trusted)
        names = {int(k): str(v) for k, v in dict(getattr(model, "names", {}) or {}).items()}
    else:
        import ultralytics.nn.tasks as tasks
        from ultralytics.nn.tasks import yaml_model_load

        try:
            cfg = yaml_model_load(src.yaml_name)
        except Exception as exc:
            raise UsageError(f"cannot read model YAML {src.spec}: {exc}") from exc
        if not isinstance(cfg, dict) or not cfg.get("head"):
            raise UsageError(f"{src.spec}: not an Ultralytics model YAML (no 'head' section)")
        fam = family_of_yaml(cfg)  # an unknown head is refused once built, by its class
        cls = getattr(tasks, fam.task_model if fam else "DetectionModel")
        torch.manual_seed(seed)
        used_seed = seed
        from .checkpoint import restricted_build

        try:  # restricted_build's own refusal is a UsageError too
            with restricted_build(cfg, src.spec):
                model = cls(cfg, verbose=False)
        except UsageError:
            raise
        except Exception as exc:
            raise UsageError(f"cannot build {src.spec}: {type(exc).__name__}: {exc}") from exc
        names = _coco_names(int(cfg.get("nc", 80)))
        notes.append(f"weights are RANDOM: built from {src.spec} with seed {seed}")
    model = model.float().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    spec = family_of(model)
    if not names:
        names = _coco_names(int(getattr(model.model[-1], "nc", 80)))
    model.names = names
    choice = spec.choose_head(model.model[-1], src, end2end, notes)
    return LoadedModel(model, spec.name, names, src, used_seed, notes, head_choice=choice)


def recalibrate_batchnorm(lm: LoadedModel, images: Any, passes: int = 3) -> None:
    """Re-estimate BatchNorm statistics on real images (random weights only).

    Randomly initialised YOLO26 has vanishing activations (RMS ~1e-9 at layer 10), which
    turns every error metric into noise. A few forward passes with only the BatchNorm
    layers in train mode and cumulative momentum give activations of unit scale.
    """
    torch = require("torch")
    model = lm.model
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    x = torch.from_numpy(images).float()
    model.eval()
    saved = [(m.momentum,) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
        m.train()
    with torch.no_grad():
        for _ in range(passes):
            model(x)
    for m, (mom,) in zip(bns, saved):
        m.momentum = mom
        m.eval()
    model.eval()
    lm.bn_recalibrated = True


def prepare_for_export(lm: LoadedModel, imgsz: int, *, dynamic: bool = False) -> Any:
    """Fuse and switch the head to export mode, as Ultralytics' exporter does for ONNX.

    The eager model then produces exactly the layout the traced graph produces, so the
    reference and the runtimes compare like with like.
    """
    torch = require("torch")
    from ultralytics.nn.modules import C2f

    spec = get_family(lm.family)
    model = lm.model.eval().float()
    with torch.no_grad():
        model = model.fuse(verbose=False)
    for m in model.modules():
        if spec.is_export_head(m):
            m.dynamic = dynamic
            m.export = True
            m.format = "onnx"
            stride = [int(s) for s in model.stride.tolist()]
            m.max_det = min(MAX_DET, spec.max_candidates(m, imgsz, stride))
            m.xyxy = False
            m.shape = None
        elif isinstance(m, C2f):
            m.forward = m.forward_split  # type: ignore[method-assign]
    lm.model = model.eval()
    return lm.model


def decorrelate_decoder(lm: LoadedModel, seed: int,
                        layer_class: str = "DeformableTransformerDecoderLayer") -> bool:
    """Random weights only: give each decoder layer (``layer_class``, the family's
    ``decorrelate_layers``) its own seeded perturbation.

    At initialisation the decoder layers are identical clones, and MSDeformAttn's
    sampling-offset and attention-weight projections are zero, so every layer computes
    the same thing and a fault in one layer is hard to tell from another. A small seeded
    perturbation makes each layer distinct and query-dependent, as trained weights are.
    """
    torch = require("torch")
    layers = [m for m in lm.model.modules() if type(m).__name__ == layer_class]
    if not layers:
        return False
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in (p for layer in layers for p in layer.parameters()):
            scale = float(p.std()) if p.numel() > 1 and float(p.std()) > 0 else 0.01
            p.add_(torch.randn(p.shape, generator=gen) * 0.05 * scale)
    return True
