"""ONNX export with exact attention taps, simplification, and the deployed graph.

The probe (see :mod:`edgekit.models.sites`) is exported with outputs
``output0, tap::<site>...``. It is simplified as a whole, so the tap tensors survive
simplification under their names; the deployed ``model.onnx`` is that same graph with
the tap outputs removed. Every runtime can then expose a tap again by its tensor name.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from .._lazy import require
from ..errors import BackendError, UsageError

log = logging.getLogger("edgekit")

DEFAULT_OPSET = 17
OUTPUT_NAME = "output0"
INPUT_NAME = "images"


def choose_opset(family: str, requested: int | None,
                 exporter: str = "torchscript") -> tuple[int, list[str]]:
    """The opset for a family and exporter (the dynamo exporter starts at 18); rejects one
    below the family's floor, and notes the family's fragile ops at the chosen opset."""
    from ..families import get_family
    from .exporters import dynamo_opset

    spec = get_family(family)
    opset = requested or DEFAULT_OPSET
    if exporter == "dynamo":
        opset = dynamo_opset(requested, DEFAULT_OPSET)
    if opset < spec.opset_floor:
        raise UsageError(f"opset {opset} is too old for {family}: needs >= {spec.opset_floor}"
                         + (f" ({spec.opset_floor_reason})" if spec.opset_floor_reason else ""))
    return opset, spec.opset_notes(opset)


def export_probe(probe: Any, example: Any, path: Path, *, opset: int, tap_names: list[str],
                 dynamic_batch: bool, exporter: str = "torchscript",
                 batch_range: tuple[int, int] | None = None, static_head: bool = False) -> None:
    """The probe to ONNX with outputs ``output0, *tap_names`` by ``exporter``; a dynamic
    batch spans ``batch_range`` (the dynamo exporter needs the bounds); ``static_head``: the
    family's ``dynamo_static_head``."""
    from .exporters import export_dynamo, export_torchscript

    names = [OUTPUT_NAME, *tap_names]
    if exporter == "dynamo":
        export_dynamo(probe, example, path, opset=opset, output_names=names,
                      input_name=INPUT_NAME,
                      batch_range=(batch_range or (1, 8)) if dynamic_batch else None,
                      static_head=static_head)
    else:
        export_torchscript(probe, example, path, opset=opset, output_names=names,
                           input_name=INPUT_NAME, dynamic_batch=dynamic_batch)


def simplify(model: Any) -> Any:
    """onnxslim, keeping graph outputs (and so every tap) by name."""
    onnxslim = require("onnxslim", purpose="graph simplification")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slim = onnxslim.slim(model)
    before = [o.name for o in model.graph.output]
    after = [o.name for o in slim.graph.output]
    if before != after:
        raise BackendError(f"onnxslim changed the graph outputs ({before} -> {after}); "
                           "export with --no-simplify")
    return slim


def strip_taps(model: Any, tap_names: list[str]) -> tuple[Any, dict[str, str]]:
    """Remove tap outputs; returns the deployed model and tap -> tensor name in it.

    When a tap was produced by an Identity (the tracer adds one where one tensor is
    returned twice), the Identity is dropped and the tap points at its input.
    """
    onnx = require("onnx")
    deployed = onnx.ModelProto()
    deployed.CopyFrom(model)
    g = deployed.graph
    producers = {o: n for n in g.node for o in n.output}
    consumers: dict[str, int] = {}
    for n in g.node:
        for i in n.input:
            consumers[i] = consumers.get(i, 0) + 1
    keep_out = [o for o in g.output if o.name not in tap_names]
    tap_map: dict[str, str] = {}
    drop: list[Any] = []
    for name in tap_names:
        node = producers.get(name)
        tensor = name
        while node is not None and node.op_type == "Identity" and consumers.get(tensor, 0) == 0:
            drop.append(node)
            tensor = node.input[0]
            node = producers.get(tensor)
        if node is None and tensor not in {i.name for i in g.input}:
            raise BackendError(f"the ONNX exporter dropped the attention tap {name} (no node "
                               "produces it); try another --opset")
        tap_map[name] = tensor
    for node in drop:
        g.node.remove(node)
    del g.output[:]
    g.output.extend(keep_out)
    return deployed, tap_map


def set_metadata(model: Any, meta: dict[str, str]) -> None:
    """Replace the model's metadata_props with ``meta``."""
    onnx = require("onnx")
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))


def ultralytics_metadata(lm: Any, imgsz: int, batch: int, dynamic: bool) -> dict[str, str]:
    """Metadata in the form Ultralytics' AutoBackend reads, so `YOLO("model.onnx")` (or
    `RTDETR(...)`) and `yolo predict` can load the bundle's ONNX directly."""
    from .. import __version__
    from ..families import get_family

    head = lm.head
    end2end = get_family(lm.family).output_format(head).ultralytics_end2end
    meta = {
        "description": f"edgekit export of {lm.source.spec}",
        "author": "edgekit", "version": __version__,
        "stride": int(max(lm.model.stride)), "task": "detect", "head": type(head).__name__,
        "batch": batch, "imgsz": [imgsz, imgsz], "names": dict(lm.names),
        "args": {"batch": batch, "half": False, "int8": False, "dynamic": dynamic, "nms": False},
        "channels": 3, "end2end": end2end,
    }
    return {k: str(v) for k, v in meta.items()}
