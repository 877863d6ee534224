"""What edgekit knows about one model family, as one frozen spec, and the registry of them.

A family is one kind of Ultralytics detection head (YOLO ``Detect``, ``RTDETRDecoder``) with
every quirk the export, parity, bench and tune steps need: how its input is resized, the
opset it needs, the layout of its output and how to decode it, how its head is switched
to export mode, what random weights need before a comparison means anything, where its
query-ordered tensors and its decoder are, and how its blocks and attention modules are
named. Each family is one module of :mod:`edgekit.families` that subclasses
:class:`FamilySpec` and calls :func:`register`.

Light to import: torch and ultralytics are never imported here. Modules are recognised by
class name (``type(m).__name__`` and the names along its MRO), as strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._registry import Registry as _Registry
from .._registry import Stack
from ..errors import UsageError

#: the grey a letterbox pads with, as Ultralytics' LetterBox does
PAD_VALUE = 114

#: the input every Ultralytics detector takes: RGB in [0, 1], NCHW float32
NORMALISATION: dict[str, object] = {
    "name": "images",
    "layout": "NCHW",
    "dtype": "float32",
    "color": "RGB",
    "scale": "1/255",
    "mean": [0.0, 0.0, 0.0],
    "std": [1.0, 1.0, 1.0],
}

#: attention modules any Ultralytics YAML can place in a backbone or neck, whatever the head
#: (class name -> site kind; subclasses are matched through the MRO)
ULTRALYTICS_SITES: dict[str, str] = {
    "AIFI": "aifi",
    "MultiheadAttention": "self_attn",
    "Attention": "psa_attn",  # C2PSA / PSABlock attention (YOLO11, YOLO26)
    "AAttn": "area_attn",  # area attention (YOLO12 A2C2f)
    "TransformerEncoderLayer": "transformer",
    "TransformerLayer": "transformer",
}

#: top-level modules of an Ultralytics model: ``model.0`` ... ``model.N``
ULTRALYTICS_BLOCK = r"model\.\d+"

#: one image's decoded rows: (boxes xyxy in input pixels, scores, class indices)
Decoded = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class OutputFormat:
    """The layout of a bundle's ``output0`` (recorded as the manifest's ``output.format``)."""

    name: str
    decoding: str  # the manifest's one-line description
    #: ``(one image's output, imgsz, conf, iou, max_det, agnostic) -> Decoded``; the caller
    #: then keeps scores above ``conf`` and sorts them
    decode: Callable[[np.ndarray, int, float, float, int, bool], Decoded]
    needs_nms: bool = False  # the one-to-many form: overlapping candidates, NMS decides
    clip_boxes: bool = True  # boxes mapped back to the image are clipped (the predictor's way)
    #: Ultralytics AutoBackend's ``end2end`` metadata: the output is already xyxy, score, class
    ultralytics_end2end: bool = False

    @property
    def conf_floor(self) -> float:
        """The score floor for comparing two runtimes' detections: NMS-decoded outputs keep
        a small one (else every anchor is a candidate)."""
        return 1e-3 if self.needs_nms else 0.0


@dataclass(frozen=True)
class FragileOp:
    """An op that an opset has been seen to export badly for this family."""

    op: str
    from_opset: int
    note: str


def _mro_names(obj: Any) -> list[str]:
    return [k.__name__ for k in type(obj).__mro__]


@dataclass(frozen=True, eq=False)
class FamilySpec:
    """One model family. Subclass it with the family's values as field defaults (and override
    the methods where the family differs), then ``register(Subclass())``. A spec is one
    instance per family, compared by identity (``eq=False`` keeps it hashable)."""

    name: str
    description: str = ""
    #: class names of the last module that make a model this family (exact class names)
    head_classes: tuple[str, ...] = ()
    #: also a head whose MRO has one of ``head_classes`` (a subclass of the family's head)
    head_subclasses: bool = False
    #: Ultralytics task model that builds the family from a YAML (``ultralytics.nn.tasks``)
    task_model: str = "DetectionModel"
    #: Ultralytics model wrapper that trains it (``ultralytics.YOLO``, ``ultralytics.RTDETR``)
    trainer: str = "YOLO"

    # -- preprocessing ----------------------------------------------------------------
    resize: str = "letterbox"  # "letterbox" (keep aspect, pad) | "stretch"
    normalisation: dict[str, object] = field(default_factory=lambda: dict(NORMALISATION))

    # -- ONNX -------------------------------------------------------------------------
    opset_floor: int = 11
    opset_floor_reason: str = ""
    fragile_ops: tuple[FragileOp, ...] = ()

    # -- output -----------------------------------------------------------------------
    formats: tuple[OutputFormat, ...] = ()

    # -- random weights ---------------------------------------------------------------
    #: re-estimate BatchNorm statistics on real images (see ``recalibrate_batchnorm``)
    recalibrate_batchnorm: bool = True
    #: the dynamo exporter needs the head's ``dynamic`` flag off: Ultralytics' dynamic mode
    #: reads shapes through ``torch._shape_as_tensor`` (a TorchScript device) that
    #: ``torch.export`` cannot trace; with static image sizes only the batch varies, which
    #: torch.export keeps symbolic by itself
    dynamo_static_head: bool = False
    #: class name of identical cloned layers to perturb apart (see ``decorrelate_decoder``)
    decorrelate_layers: str | None = None

    # -- structure --------------------------------------------------------------------
    #: attention module class name -> site kind (matched through the MRO)
    site_classes: dict[str, str] = field(default_factory=lambda: dict(ULTRALYTICS_SITES))
    #: class name of the module whose first input is the query embeddings (the query site)
    query_module: str | None = None
    #: module-path component of the decoder (``model.26.decoder.layers.0``), if any
    decoder_module: str | None = None
    #: regular expression of a top-level block name (as a module path and in ONNX scopes)
    block_pattern: str = ULTRALYTICS_BLOCK
    #: classes (MRO names) of the head that export mode switches (``export``, ``max_det``)
    export_heads: tuple[str, ...] = ()

    # -- behaviour --------------------------------------------------------------------
    def matches_head(self, head: Any) -> bool:
        names = _mro_names(head) if self.head_subclasses else [type(head).__name__]
        return any(n in self.head_classes for n in names)

    def output_format(self, head: Any) -> OutputFormat:
        """The format the prepared ``head`` produces (the first by default)."""
        return self.formats[0]

    def choose_head(self, head: Any, src: Any, end2end: bool | None,
                    notes: list[str]) -> dict[str, Any]:
        """Pick the head variant to export (and set it on ``head``); the choice and its reason
        for the manifest's ``head``, or {} for a family with one head."""
        return {}

    def is_export_head(self, module: Any) -> bool:
        return any(n in self.export_heads for n in _mro_names(module))

    def max_candidates(self, head: Any, imgsz: int, strides: list[int]) -> int:
        """How many detections the head can produce at ``imgsz`` (caps its ``max_det``)."""
        return sum((imgsz // s) ** 2 for s in strides)

    def num_queries(self, head: Any) -> int | None:
        """The length of the query axis of per-query tensors, or None (no queries)."""
        return None

    def is_decoder_site(self, site_name: str) -> bool:
        return self.decoder_module is not None and f".{self.decoder_module}." in site_name

    def opset_notes(self, opset: int) -> list[str]:
        return [f"opset {opset}: {f.note}" for f in self.fragile_ops if opset >= f.from_opset]

    def input_spec(self) -> dict[str, object]:
        """The manifest's ``input`` section (less the size): normalisation and resize."""
        resize: dict[str, object] = {"mode": self.resize, "interpolation": "linear"}
        if self.resize == "letterbox":
            resize.update(pad_value=PAD_VALUE, center=True, scaleup=True)
        return {**self.normalisation, "resize": resize}


class Registry(_Registry[FamilySpec]):
    """Families by name, in registration order."""

    kind = "model family"

    def check(self, spec: FamilySpec) -> None:
        taken = {f.name: s.name for s in self if s.name != spec.name for f in s.formats}
        clash = [f.name for f in spec.formats
                 if f.name in taken and self.format(f.name) is not f]
        if clash:
            raise ValueError(f"output format {clash[0]!r} belongs to family {taken[clash[0]]!r}")

    def family_of(self, model: Any) -> FamilySpec:
        """The family of an Ultralytics model, by its last module (the head)."""
        head = model.model[-1]
        for spec in self:
            if spec.matches_head(head):
                return spec
        heads = ", ".join(h for s in self for h in s.head_classes)
        raise UsageError(f"unsupported head {type(head).__name__}: edgekit exports detection "
                         f"models with these heads only: {heads}")

    def family_of_yaml(self, cfg: dict[str, Any]) -> FamilySpec | None:
        """The family of a model YAML (parsed), by its last head entry's module name."""
        head = cfg.get("head") or []
        last = head[-1][2] if head and len(head[-1]) > 2 else ""
        return next((s for s in self if last in s.head_classes), None)

    def format(self, name: str) -> OutputFormat:
        for spec in self:
            for f in spec.formats:
                if f.name == name:
                    return f
        raise ValueError(f"unknown output format {name}")

    def block_regex(self) -> re.Pattern[str]:
        """One block-name pattern for every registered family's naming, found as a path
        component of a module path or of an exported node's scope."""
        pats = sorted({s.block_pattern for s in self}) or [ULTRALYTICS_BLOCK]
        return _block_regex(tuple(pats))

    def is_block_name(self, name: str) -> bool:
        return any(re.fullmatch(s.block_pattern, name) for s in self)

    def site_kinds(self) -> set[str]:
        return {k for s in self for k in s.site_classes.values()}


_COMPILED: dict[tuple[str, ...], re.Pattern[str]] = {}


def _block_regex(pats: tuple[str, ...]) -> re.Pattern[str]:
    if pats not in _COMPILED:
        alt = "|".join(f"(?:{p})" for p in pats)
        _COMPILED[pats] = re.compile(rf"(?:^|/)({alt})(?=[/.])")
    return _COMPILED[pats]


#: the registry the package uses; tests work on copies (see :func:`using`)
REGISTRY = Registry()
_STACK = Stack(REGISTRY)
current = _STACK.current
#: make a registry the one every lookup consults, for a ``with`` block (tests)
using = _STACK.using


def register(spec: FamilySpec) -> FamilySpec:
    return current().register(spec)


def get_family(name: str) -> FamilySpec:
    return current().get(name)


def families() -> list[str]:
    return current().names()


def family_of(model: Any) -> FamilySpec:
    return current().family_of(model)


def family_of_yaml(cfg: dict[str, Any]) -> FamilySpec | None:
    return current().family_of_yaml(cfg)


def get_format(name: str) -> OutputFormat:
    return current().format(name)


def block_regex() -> re.Pattern[str]:
    return current().block_regex()


def is_block_name(name: str) -> bool:
    return current().is_block_name(name)


def site_kinds() -> set[str]:
    return current().site_kinds()
