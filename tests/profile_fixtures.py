"""Recorded profiler captures (tests/assets/profile/*.json.gz): the runtime's raw capture,
the ONNX graph it maps back to (nodes only, no weights) and the bundle's taps.

Record one from a bundle with
``python -m tests.profile_fixtures BUNDLE BACKEND OUT.json.gz [ITERS]``."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

ASSETS = Path(__file__).parent / "assets" / "profile"


def graph_to_json(model: Any) -> list[list[Any]]:
    return [[n.name, n.op_type, list(n.input), list(n.output)] for n in model.graph.node]


def graph_from_json(nodes: list[list[Any]]) -> Any:
    import onnx

    made = [onnx.helper.make_node(op, ins, outs, name=name) for name, op, ins, outs in nodes]
    return onnx.helper.make_model(onnx.helper.make_graph(made, "recorded", [], []))


def save(path: Path, backend: str, raw: dict[str, Any], model: Any, taps: list[Any]) -> None:
    doc = {"backend": backend, "capture": raw, "graph": graph_to_json(model),
           "taps": [t.model_dump(mode="json") for t in taps]}
    path.write_bytes(gzip.compress(json.dumps(doc, separators=(",", ":")).encode()))


def load(name: str) -> tuple[str, dict[str, Any], Any, list[Any]]:
    from edgekit.manifest import Tap

    doc = json.loads(gzip.decompress((ASSETS / name).read_bytes()))
    return (doc["backend"], doc["capture"], graph_from_json(doc["graph"]),
            [Tap(**t) for t in doc["taps"]])


def record(bundle_dir: str, backend: str, out: str, iters: int = 10) -> None:
    from edgekit.attribution import profile

    rep = profile(bundle_dir, [backend], iters=iters, warmup=3, threads=1, keep_raw=True)
    from edgekit.attribution.run import graph_of
    from edgekit.bundle import load_bundle

    b = load_bundle(bundle_dir)
    save(Path(out), backend, rep.results[backend].raw, graph_of(b.file("model.onnx")),
         list(b.manifest.taps))


if __name__ == "__main__":
    record(sys.argv[1], sys.argv[2], sys.argv[3], *(int(a) for a in sys.argv[4:5]))
