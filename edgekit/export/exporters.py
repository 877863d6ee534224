"""The two ways torch gets a model to ONNX, behind one call: the TorchScript exporter
(``torch.onnx.export(dynamo=False)``, on ``torch.jit.trace``, deprecated by PyTorch) and the
dynamo exporter (``dynamo=True``, on ``torch.export``, torch's default since 2.9).

Both export the same probe (:func:`edgekit.models.sites.make_probe`: the model with forward
hooks on each site, returning ``(output0, *taps)``) under the same output names, so the
taps, the deployed graph and parity are the same for either. What differs is handled here:

- the dynamo exporter starts at opset 18 (:data:`DYNAMO_MIN_OPSET`);
- a dynamic batch is given as ``dynamic_shapes`` (a ``torch.export.Dim``), and is traced
  with a batch of at least 2: ``torch.export`` specialises a dimension of size 1 to a
  constant, so a batch-1 example would freeze the batch;
- its node names (``node_Conv_12``) do not carry the module path the TorchScript exporter
  writes (``/model.9/cv2/conv/Conv``), which float scopes by block (``model.N``) read; the
  path is rebuilt from the ``pkg.torch.onnx.name_scopes`` metadata each node carries.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Any

from .._lazy import require
from ..errors import UsageError

log = logging.getLogger("edgekit")

EXPORTERS = ("torchscript", "dynamo")
#: the exporter ``edgekit export`` uses unless told (see the README's "Exporters")
DEFAULT_EXPORTER = "torchscript"
DYNAMO_MIN_OPSET = 18
#: the batch a dynamic-batch dynamo export is traced with, at least (see the module doc)
DYNAMO_TRACE_BATCH = 2


def check_exporter(name: str) -> str:
    """``name`` if it is an exporter edgekit knows; exit 2 otherwise."""
    if name not in EXPORTERS:
        raise UsageError(f"--exporter {name!r}: choose one of {', '.join(EXPORTERS)}")
    return name


def check_dynamo_supported() -> None:
    """Exit 2 when this torch has no ``torch.export`` (the dynamo exporter stands on it);
    exit 3 (naming the extra) when onnxscript, which it translates with, is missing."""
    torch = require("torch", purpose="export")
    texport = getattr(torch, "export", None)
    if texport is None or not hasattr(texport, "Dim"):
        raise UsageError(f"--exporter dynamo needs torch.export, which torch {torch.__version__} "
                         "lacks: upgrade torch (>= 2.5) or use --exporter torchscript")
    require("onnxscript", purpose="the dynamo exporter")


def dynamo_opset(requested: int | None, default: int) -> int:
    """The dynamo exporter's opset: the family's choice raised to 18; an explicit
    ``--opset`` below 18 is refused rather than silently changed."""
    if requested is not None and requested < DYNAMO_MIN_OPSET:
        raise UsageError(f"--opset {requested}: the dynamo exporter starts at opset "
                         f"{DYNAMO_MIN_OPSET}; use --exporter torchscript for an older opset")
    return max(requested or default, DYNAMO_MIN_OPSET)


#: words in an error that say torch refused the TorchScript exporter itself (as opposed to
#: failing on this model); PyTorch has announced its removal
_REFUSAL_SUBJECT = ("torchscript", "torch.jit", "dynamo=false", "jit.trace")
_REFUSAL_VERB = ("deprecat", "removed", "no longer", "not supported", "unsupported")


def torchscript_refused(exc: BaseException) -> bool:
    """True when ``exc`` says torch no longer offers the TorchScript exporter (removed, or
    its deprecation warning raised as an error), not that it failed on this model."""
    msg = str(exc).lower()
    if isinstance(exc, DeprecationWarning | FutureWarning):
        return True
    return any(s in msg for s in _REFUSAL_SUBJECT) and any(v in msg for v in _REFUSAL_VERB)


def export_torchscript(probe: Any, example: Any, path: Path, *, opset: int,
                       output_names: list[str], input_name: str, dynamic_batch: bool) -> None:
    torch = require("torch")
    axes = None
    if dynamic_batch:
        axes = {input_name: {0: "batch"}, output_names[0]: {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            probe, example, str(path), opset_version=opset, input_names=[input_name],
            output_names=output_names, dynamic_axes=axes, dynamo=False,
            do_constant_folding=True,
        )


def export_dynamo(probe: Any, example: Any, path: Path, *, opset: int,
                  output_names: list[str], input_name: str,
                  batch_range: tuple[int, int] | None, static_head: bool = False) -> None:
    """``torch.onnx.export(dynamo=True)``, weights inside the file, the graph optimised;
    ``batch_range`` (min, max) makes the batch dynamic; node names get module paths.
    ``static_head``: modules with an Ultralytics ``dynamic`` flag have it off while traced
    (see ``FamilySpec.dynamo_static_head``)."""
    torch = require("torch")
    onnx = require("onnx")
    flagged = [m for m in probe.modules() if getattr(m, "dynamic", False) is True] \
        if static_head else []
    shapes = None
    if batch_range is not None:
        lo, hi = batch_range
        if example.shape[0] < DYNAMO_TRACE_BATCH:
            example = example.expand(DYNAMO_TRACE_BATCH, *example.shape[1:]).contiguous()
        hi = max(hi, DYNAMO_TRACE_BATCH)
        shapes = ({0: torch.export.Dim("batch", min=lo, max=hi)},)
    try:
        for m in flagged:
            m.dynamic = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                probe, (example,), str(path), dynamo=True, opset_version=opset, verbose=False,
                input_names=[input_name], output_names=output_names, dynamic_shapes=shapes,
                external_data=False, optimize=True,
            )
    finally:
        for m in flagged:
            m.dynamic = True
    model = onnx.load(str(path))
    if batch_range is not None:
        name_batch_dims(model)
    scope_node_names(model)
    onnx.save(model, str(path))


def name_batch_dims(model: Any) -> None:
    """The dynamic batch of the input and ``output0`` named ``batch``, as the TorchScript
    exporter names it (the dynamo exporter names it after the Dim, or ``s0``)."""
    first_in = model.graph.input[0].type.tensor_type.shape.dim[0]
    sym = first_in.dim_param
    for v in [model.graph.input[0], *model.graph.output]:
        dims = v.type.tensor_type.shape.dim
        if dims and dims[0].dim_param == sym and sym:
            dims[0].dim_param = "batch"


#: what the module stack holds that is no module name: a slice of a Sequential
#: (``model.slice(None, -1, None).0``, Ultralytics' ``self.model[:-1]``) and the exporter's
#: placeholder for nodes with no module
_SLICE = re.compile(r"\.slice\([^)]*\)")
_NO_MODULE = "_empty_nn_module_stack_from_metadata_hook"


def _scope_path(scopes: list[str]) -> list[str]:
    """``['', 'model', 'model.model.16', 'm.0', 'm.0.m']`` -> ``['model', 'model.16', 'm.0',
    'm']``: each scope as named within its parent, as TorchScript's node paths read."""
    parts: list[str] = []
    parent = ""
    for raw in scopes:
        s = _SLICE.sub("", raw)
        if not s or s == _NO_MODULE:
            continue
        rel = s[len(parent) + 1:] if parent and s.startswith(parent + ".") else s
        parts.append(rel)
        parent = s
    return parts


def scope_node_names(model: Any) -> int:
    """Prefix each node's name with its module path (``/model/model.16/m.0/m/node_Conv_3``)
    from the exporter's ``name_scopes`` metadata; the last scope (the op itself) is left
    out. Returns how many nodes were renamed. Only node names change: no tensor is renamed."""
    import ast

    renamed = 0
    for node in model.graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        raw = meta.get("pkg.torch.onnx.name_scopes")
        if not raw:
            continue
        try:
            scopes = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            continue
        path = _scope_path(list(scopes)[:-1])
        if path:
            node.name = "/" + "/".join(path) + "/" + node.name
            renamed += 1
    return renamed
