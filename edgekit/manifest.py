"""The bundle manifest as a typed contract: frozen models of every section of
``manifest.json``, the schema versions edgekit reads, and how a manifest of any readable
version is validated (:func:`parse_manifest`). :mod:`edgekit.bundle` reads and writes it.

Schema versions: 1 was the same layout, written unvalidated; 2 is the layout validated by
these models on write and on read. Version 1 manifests are read through
:func:`manifest_from_v1`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer

from .errors import IntegrityError
from .profiles.schema import Profile

SCHEMA_VERSION = 2
#: the versions :func:`load_bundle` reads
READABLE_VERSIONS = (1, 2)


def _omit_unset_optionals(model: BaseModel, data: dict[str, Any]) -> dict[str, Any]:
    fields = type(model).model_fields
    return {k: v for k, v in data.items()
            if v is not None or k not in fields or fields[k].is_required()}


class _Section(BaseModel):
    """A frozen manifest section of known shape. An optional field left at None is not
    written (``"query_axis"`` is absent rather than null), as the manifest always had it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_serializer(mode="wrap")
    def _serialize(self, handler: Any) -> dict[str, Any]:
        return _omit_unset_optionals(self, handler(self))


class Host(_Section):
    python: str
    machine: str


class Source(_Section):
    """What was exported: the model as named, its file and hash, and how it was built."""

    spec: str
    kind: str  # "checkpoint" | "yaml"
    path: str
    sha256: str | None
    family: str
    yaml: str | None
    seed: int | None
    random_weights: bool
    bn_recalibrated: bool
    decoder_decorrelated: bool


class Resize(_Section):
    mode: str  # "letterbox" | "stretch"
    interpolation: str
    pad_value: int | None = None
    center: bool | None = None
    scaleup: bool | None = None


class InputSpec(_Section):
    """The model input and how to feed it (resize, normalisation); ``shape[0]`` is
    ``"batch"`` for a dynamic batch."""

    name: str
    layout: str
    dtype: str
    color: str
    scale: str
    mean: list[float]
    std: list[float]
    resize: Resize
    imgsz: int
    shape: list[int | str]
    dynamic_batch: bool


class OutputSpec(_Section):
    name: str
    shape: list[int | str]
    format: str  # "yolo_end2end" | "yolo_raw" | "rtdetr"
    decoding: str


class Tap(_Section):
    """One site parity reads: its graph tensor, the tensors feeding it (boundaries), and
    where the query axis is for decoder sites."""

    name: str
    kind: str
    cls: str
    tensor: str
    port: str
    inputs: list[str]
    shape: list[int]
    query_axis: int | None = None
    input_refs: list[str] | None = None
    input_query_axes: list[int | None] | None = None
    region_nodes: int | None = None
    graph_index: int


class Head(_Section):
    """Which YOLO head was exported, and why."""

    exported: str
    reason: str
    checkpoint_mode: str | None


class Reference(_Section):
    file: str
    inputs: list[str]
    model: str


class ImageSet(_Section):
    """Images by provenance: the folder (None = Ultralytics' samples or a list of files),
    the file names, one sha256 over names and contents."""

    dir: str | None
    files: list[str]
    sha256: str


class Images(_Section):
    reference: ImageSet
    #: INT8 only: the calibration images (an image set plus count, or a dataset's picks)
    calibration: dict[str, Any] | None = None


class ParityRecord(_Section):
    passed: bool
    first_divergent: dict[str, str | None]


class Manifest(_Section):
    """``manifest.json``. Runtime sections (``openvino``, ``onnxruntime``, ``tensorrt``, or
    any other runtime's) are the open part: top-level objects named after the runtime, read
    with :meth:`runtime`; every other key is checked."""

    model_config = ConfigDict(frozen=True, extra="allow")
    __pydantic_extra__: dict[str, dict[str, Any]] = Field(init=False)

    edgekit: str
    created: str
    host: Host
    source: Source
    profile: Profile
    versions: dict[str, str | None]
    opset: int
    #: the torch-to-ONNX exporter ("torchscript" | "dynamo"); None (not written): a
    #: manifest from before it was recorded, a TorchScript export (see ``exported_with``)
    exporter: str | None = None
    input: InputSpec
    output: OutputSpec
    names: dict[str, str]
    head: Head | None = None
    taps: list[Tap]
    artifacts: dict[str, str]
    reference: Reference
    images: Images
    notes: list[str]
    timings_s: dict[str, float]
    onnx_check: dict[str, Any] | None = None
    #: the known-bad environment entries the export matched (``edgekit.known_issues``)
    known_issues: list[dict[str, Any]] | None = None
    eval_reference: dict[str, Any] | None = None
    parity: ParityRecord | None = None
    device_profile: Profile | None = None
    schema_version: int = SCHEMA_VERSION
    files: dict[str, str]

    @model_serializer(mode="wrap")
    def _serialize(self, handler: Any) -> dict[str, Any]:
        """Written in the order the manifest always had: the runtime sections after the
        ONNX check, and the version and file hashes last."""
        data = _omit_unset_optionals(self, handler(self))
        last = ("eval_reference", "parity", "device_profile", "schema_version", "files")
        rest = {k: v for k, v in data.items() if k not in last and k not in self.runtimes}
        return {**rest, **{k: data[k] for k in self.runtimes},
                **{k: data[k] for k in last if k in data}}

    @property
    def exported_with(self) -> str:
        """The exporter that made the ONNX; ``torchscript`` for manifests that predate it."""
        return self.exporter or "torchscript"

    @property
    def runtimes(self) -> dict[str, dict[str, Any]]:
        """Every runtime section, by runtime name."""
        return dict(self.model_extra or {})

    def runtime(self, name: str) -> dict[str, Any] | None:
        """A runtime's section (what its build recorded), or None."""
        return (self.model_extra or {}).get(name)

    def replace(self, **changes: Any) -> Manifest:
        """A validated copy with ``changes`` (a runtime section by its name); a value of
        None removes an optional section."""
        data = {k: v for k, v in self if v is not None}
        data.update(changes)
        return type(self).model_validate({k: v for k, v in data.items() if v is not None})

    def with_runtime(self, name: str, section: dict[str, Any], *, artifact: str | None = None,
                     timings: dict[str, float] | None = None) -> Manifest:
        """A copy with runtime ``name``'s section, its artifact (a path in the bundle) and
        how long its build took."""
        changes: dict[str, Any] = {name: section}
        if artifact is not None:
            changes["artifacts"] = {**self.artifacts, name: artifact}
        if timings:
            changes["timings_s"] = {**self.timings_s, **timings}
        return self.replace(**changes)

    def without_runtime(self, name: str) -> Manifest:
        """A copy without runtime ``name``'s section and artifact."""
        data = {k: v for k, v in self if v is not None and k != name}
        data["artifacts"] = {k: v for k, v in self.artifacts.items() if k != name}
        return type(self).model_validate(data)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"


def manifest_from_v1(data: dict[str, Any]) -> Manifest:
    """A schema-1 manifest as the current model. Version 1 had today's layout but was
    never validated; it is read as written, under the current version number."""
    return Manifest.model_validate({**data, "schema_version": SCHEMA_VERSION})


def parse_manifest(data: Any, where: Path | str) -> Manifest:
    """Validate a manifest (a parsed JSON object) of any readable version; one-line
    :class:`IntegrityError` naming ``where`` and the first bad field otherwise."""
    if not isinstance(data, dict) or "files" not in data:
        raise IntegrityError(f"{where}: not an edgekit manifest (no 'files')")
    version = data.get("schema_version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise IntegrityError(f"{where}: schema_version {version!r} is not one this edgekit "
                             f"reads ({', '.join(map(str, READABLE_VERSIONS))}); a newer "
                             "edgekit wrote it, or the file is not a manifest")
    try:
        return manifest_from_v1(data) if version == 1 else Manifest.model_validate(data)
    except ValidationError as exc:
        raise IntegrityError(f"{where}: invalid manifest: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    errs = exc.errors(include_url=False)
    e = errs[0]
    field = ".".join(str(p) for p in e["loc"]) or "(top level)"
    more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
    return f"field '{field}': {e['msg']}{more}"
