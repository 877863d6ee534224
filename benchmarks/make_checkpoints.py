#!/usr/bin/env python3
"""Train (or take from the cache) the zoo's checkpoints and state what each reaches.

For every recipe of ``edgekit.zoo.train.RECIPES`` named: the training time (measured on
this machine, with the load average around it: on a shared host it says little about the
machine's speed), Ultralytics' own val mAP at the end of training, and edgekit's COCO mAP
on the same val split through the deployment preprocessing and decoding (PyTorch eager).
Writes benchmarks/results/checkpoints.{json,md}.

    python benchmarks/make_checkpoints.py [--recipes yolo26n-test,rtdetr-tiny-test]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path


def coco_reference(ck, recipe) -> dict:
    """edgekit's mAP of a checkpoint: a minimal manifest for the PyTorch runner."""
    from edgekit.eval.data import load_dataset
    from edgekit.eval.run import compute_reference
    from edgekit.families import get_family

    fam = get_family("rtdetr" if "rtdetr" in Path(recipe.model).name else "yolo")
    manifest = {
        "source": {"kind": "checkpoint", "spec": str(ck.path), "path": str(ck.path)},
        "input": {**fam.input_spec(), "imgsz": recipe.imgsz,
                  "shape": [1, 3, recipe.imgsz, recipe.imgsz]},
        "output": {"format": fam.formats[0].name},  # YOLO: the end-to-end head
    }
    ref = compute_reference(manifest, load_dataset(ck.data, "val"))
    return {"map50_95": ref["map50_95"], "map50": ref["map50"], "per_class": ref["per_class"]}


def main() -> None:
    # edgekit's progress lines (training, the tune search) on stderr, as the CLI shows them
    logging.basicConfig(format="%(message)s")
    logging.getLogger("edgekit").setLevel(logging.INFO)
    from edgekit.zoo.train import RECIPES, cache_root, checkpoint, recipe_key

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--name", default="checkpoints")
    a = ap.parse_args()
    rows = []
    for name in a.recipes.split(","):
        recipe = RECIPES[name]
        t0 = time.perf_counter()
        ck = checkpoint(recipe)
        cached = time.perf_counter() - t0 < 5
        info = ck.info
        print(f"{name}: {ck.path} ({'cached' if cached else 'trained now'})")
        rows.append({
            "recipe": name, "model": Path(recipe.model).name, "imgsz": recipe.imgsz,
            "epochs": recipe.epochs, "train_images": recipe.data.n_train,
            "val_images": recipe.data.n_val, "key": recipe_key(recipe),
            "train_seconds": info.get("train_seconds"),
            "load_average": info.get("load_average"), "cpu_count": info.get("cpu_count"),
            "torch_threads": info.get("torch_threads"), "trained": info.get("created"),
            "ultralytics_val": info.get("ultralytics_val"),
            "edgekit_coco": coco_reference(ck, recipe),
            "versions": info.get("versions"),
        })
    a.out.mkdir(parents=True, exist_ok=True)
    report = {"schema": "edgekit.zoo-checkpoints/1", "cache": str(cache_root()),
              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host_cpus": os.cpu_count(),
              "checkpoints": rows}
    (a.out / f"{a.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Trained checkpoints (edgekit.zoo)", "",
        "Written by `benchmarks/make_checkpoints.py`. Trained on the synthetic dataset",
        "(`edgekit.zoo.synth`), CPU only, deterministic. **Training times were measured on a",
        "shared host under load** (the 1-minute load average before and after is given; the",
        f"host had {os.cpu_count()} CPUs): they are not a measure of the machine's speed.",
        "",
        "mAP on the recipe's val split, in points. Ultralytics: the validation at the end of",
        "training, as its trainer runs it (its own AP; rectangular batches; for YOLO26 the",
        "one-to-many head with NMS). edgekit: COCO mAP (faster-coco-eval, 101-point) through",
        "edgekit's letterbox and decoding on the PyTorch model, scoring the end-to-end head",
        "(`export --end2end`; a checkpoint's default export follows its saved one-to-many head).",
        "",
        "| recipe | model | imgsz | epochs | train/val images | train time (s) | load avg | "
        "Ultralytics mAP50-95 / mAP50 | edgekit COCO mAP50-95 / mAP50 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        u, e = r["ultralytics_val"] or {}, r["edgekit_coco"]
        la = r["load_average"] or [None, None]
        la_s = " → ".join("-" if x is None else f"{x:.1f}" for x in la)
        lines.append(
            f"| {r['recipe']} | {r['model']} | {r['imgsz']} | {r['epochs']} | "
            f"{r['train_images']}/{r['val_images']} | {r['train_seconds']} | {la_s} | "
            f"{u.get('mAP50-95', 0) * 100:.1f} / {u.get('mAP50', 0) * 100:.1f} | "
            f"{e['map50_95'] * 100:.1f} / {e['map50'] * 100:.1f} |")
    (a.out / f"{a.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
