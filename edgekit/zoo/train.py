"""A deterministic training recipe that turns an architecture YAML into a real Ultralytics
checkpoint on the synthetic dataset, cached once per machine.

Determinism on one machine: Ultralytics' ``deterministic=True`` and ``seed`` (Python,
NumPy and torch RNGs, including mosaic and the other augmentations, and
``torch.use_deterministic_algorithms``), ``workers=0`` (augmentation runs in the training
process, in order), ``device='cpu'`` (so AMP is off) and the torch thread count fixed by
Ultralytics' device selection for a given core count. Training runs in a child process, so
that the global torch state it sets (threads, deterministic flags) does not leak into the
caller.

Cache: ``$EDGEKIT_ZOO_DIR`` (default ``$XDG_CACHE_HOME/edgekit/zoo``, i.e.
``~/.cache/edgekit/zoo``) holds ``<recipe name>-<key>/`` where the key hashes the recipe,
the model YAML's text, the dataset spec and the versions of torch, ultralytics, numpy and
OpenCV. An entry is built in a temporary directory and renamed into place, under a lock,
so a crash leaves nothing under the final name and two processes do not train twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._lazy import version_of
from ..errors import EdgekitError, UsageError
from .synth import SynthSpec, make_dataset

log = logging.getLogger(__name__)

#: bump when the training code changes what a recipe produces
RECIPE_VERSION = 1
ENV_CACHE = "EDGEKIT_ZOO_DIR"
HERE = Path(__file__).parent


@dataclass(frozen=True)
class Recipe:
    name: str
    model: str  # a shipped YAML name (yolo26n.yaml) or a path
    data: SynthSpec = field(default_factory=SynthSpec)
    imgsz: int = 160
    epochs: int = 20
    batch: int = 16
    seed: int = 0
    #: further keyword arguments for Ultralytics' ``train`` (optimizer, lr0, mosaic ...)
    train_args: tuple[tuple[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["data"] = self.data.to_dict()
        d["train_args"] = dict(self.train_args)
        return d


def _args(**kw: Any) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(kw.items()))


RTDETR_TINY = str(HERE / "rtdetr-tiny.yaml")
TEST_DATA = SynthSpec(n_train=160, n_val=48, seed=0)
BENCH_DATA = SynthSpec(n_train=400, n_val=100, seed=1)

#: the small recipes the test suite trains once per machine, and the benchmark ones
RECIPES: dict[str, Recipe] = {
    "yolo26n-test": Recipe("yolo26n-test", "yolo26n.yaml", TEST_DATA, imgsz=160, epochs=60,
                           train_args=_args(optimizer="AdamW", lr0=0.003, warmup_epochs=1,
                                            close_mosaic=10)),
    "rtdetr-tiny-test": Recipe("rtdetr-tiny-test", RTDETR_TINY, TEST_DATA, imgsz=160, epochs=50,
                               train_args=_args(optimizer="AdamW", lr0=0.002, warmup_epochs=1,
                                                close_mosaic=10)),
    "yolo26n-bench": Recipe("yolo26n-bench", "yolo26n.yaml", BENCH_DATA, imgsz=320, epochs=12,
                            train_args=_args(optimizer="AdamW", lr0=0.003, warmup_epochs=1,
                                             close_mosaic=3)),
    # RT-DETR converges slowly from scratch: the test recipe needed 50 epochs for mAP50 0.2
    "rtdetr-tiny-bench": Recipe("rtdetr-tiny-bench", RTDETR_TINY, BENCH_DATA, imgsz=320,
                                epochs=30, train_args=_args(optimizer="AdamW", lr0=0.002,
                                                            warmup_epochs=1, close_mosaic=5)),
}


def cache_root() -> Path:
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgekit" / "zoo"


def _model_text(model: str) -> str:
    from ..models.source import resolve_source

    src = resolve_source(model)
    f = src.path or src.shipped_yaml
    return f.read_text() if f else model


def versions() -> dict[str, str | None]:
    return {n: version_of(n) for n in ("torch", "ultralytics", "numpy", "opencv-python")}


def recipe_key(recipe: Recipe) -> str:
    """The cache key: what the recipe trains, not where its files are (a YAML path differs
    from one checkout to the next; its text is in the key)."""
    spec = {**recipe.to_dict(), "model": Path(recipe.model).name}
    blob = json.dumps({"recipe": spec, "model_yaml": _model_text(recipe.model),
                       "versions": versions(), "recipe_version": RECIPE_VERSION},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def dataset_dir(spec: SynthSpec, root: Path | None = None) -> Path:
    key = hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).hexdigest()[:12]
    return (root or cache_root()) / "data" / f"synth-{key}"


def dataset(spec: SynthSpec = TEST_DATA, root: Path | None = None) -> Path:
    """The synthetic dataset of ``spec`` in the cache (generated once); its ``data.yaml``."""
    return make_dataset(dataset_dir(spec, root), spec)


@dataclass
class Checkpoint:
    path: Path  # the .pt
    data: Path  # the data.yaml it was trained on
    info: dict[str, Any]  # train.json: recipe, versions, seconds, final val metrics


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the atomic rename still protects the entry
        yield
        return
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _load(entry: Path) -> Checkpoint | None:
    try:
        info = json.loads((entry / "train.json").read_text())
    except (OSError, ValueError):
        return None
    pt = entry / f"{info['recipe']['name']}.pt"
    return Checkpoint(pt, Path(info["data_yaml"]), info) if pt.is_file() else None


def checkpoint(recipe: Recipe | str, *, root: Path | None = None) -> Checkpoint:
    """The trained checkpoint of ``recipe``, from the cache or trained now (in a child
    process) and cached."""
    if isinstance(recipe, str):
        if recipe not in RECIPES:
            raise UsageError(f"unknown recipe {recipe!r}: choose from {', '.join(RECIPES)}")
        recipe = RECIPES[recipe]
    root = root or cache_root()
    entry = root / f"{recipe.name}-{recipe_key(recipe)}"
    if (ck := _load(entry)) is not None:
        return ck
    with _locked(root / f".{entry.name}.lock"):
        if (ck := _load(entry)) is not None:  # another process trained it meanwhile
            return ck
        data_yaml = dataset(recipe.data, root)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=root))
        try:
            log.info(f"training {recipe.name} ({recipe.model}, {recipe.epochs} epochs at "
                     f"{recipe.imgsz} px) into {entry}")
            info = train_in_subprocess(recipe, data_yaml, tmp)
            (tmp / "train.json").write_text(json.dumps(info, indent=2) + "\n")
            shutil.rmtree(tmp / "run", ignore_errors=True)
            os.replace(tmp, entry)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    ck = _load(entry)
    assert ck is not None
    return ck


def checkpoints(recipes: list[Recipe | str], *, root: Path | None = None) -> list[Checkpoint]:
    """Several checkpoints, the missing ones trained side by side (Ultralytics trains on
    ``cpu_count - 1`` threads, so two trainings keep a 2-core machine busy)."""
    from concurrent.futures import ThreadPoolExecutor

    root = root or cache_root()
    with ThreadPoolExecutor(max_workers=max(1, len(recipes))) as pool:
        return list(pool.map(lambda r: checkpoint(r, root=root), recipes))


def train_in_subprocess(recipe: Recipe, data_yaml: Path, out: Path) -> dict[str, Any]:
    """Train in a fresh interpreter; returns the info recorded in ``train.json``."""
    req = out / "recipe.json"
    req.write_text(json.dumps({"recipe": recipe.to_dict(), "data_yaml": str(data_yaml)}))
    proc = subprocess.run([sys.executable, "-m", "edgekit.zoo.train", str(req), str(out)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise EdgekitError(f"training {recipe.name} failed (exit {proc.returncode}): "
                           + " | ".join(tail))
    return json.loads((out / "result.json").read_text())


def train_here(recipe: dict[str, Any], data_yaml: str, out: Path) -> dict[str, Any]:
    """Run Ultralytics training in this process (the child). Writes ``out/<name>.pt``."""

    import ultralytics
    from ultralytics.nn.tasks import yaml_model_load
    from ultralytics.utils import LOGGER

    from ..families import family_of_yaml
    from ..models.source import resolve_source

    LOGGER.setLevel(logging.WARNING)
    src = resolve_source(recipe["model"])
    spec = src.yaml_name or recipe["model"]
    fam = family_of_yaml(yaml_model_load(spec))  # the model wrapper that trains its head
    model = getattr(ultralytics, fam.trainer if fam else "YOLO")(spec)
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    t0 = time.perf_counter()
    results = model.train(
        data=data_yaml, imgsz=recipe["imgsz"], epochs=recipe["epochs"], batch=recipe["batch"],
        seed=recipe["seed"], deterministic=True, workers=0, device="cpu", amp=False,
        project=str(out / "run"), name="train", exist_ok=True, plots=False, val=False,
        verbose=False, **recipe["train_args"])
    seconds = time.perf_counter() - t0
    trainer = model.trainer
    assert trainer is not None, "train() leaves its trainer on the model"
    weights = Path(trainer.save_dir) / "weights" / "last.pt"
    shutil.copyfile(weights, out / f"{recipe['name']}.pt")
    rd = {k: float(v) for k, v in getattr(results, "results_dict", {}).items()}
    import torch

    return {"recipe": recipe, "data_yaml": data_yaml, "train_seconds": round(seconds, 1),
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            # 1-minute load average before and after: training time means little on a busy host
            "load_average": [load_before,
                             os.getloadavg()[0] if hasattr(os, "getloadavg") else None],
            "versions": versions(),
            "ultralytics_val": {"mAP50-95": rd.get("metrics/mAP50-95(B)"),
                                "mAP50": rd.get("metrics/mAP50(B)")},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _main(argv: list[str]) -> int:
    req = json.loads(Path(argv[0]).read_text())
    out = Path(argv[1])
    info = train_here(req["recipe"], req["data_yaml"], out)
    (out / "result.json").write_text(json.dumps(info, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
