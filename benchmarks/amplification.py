#!/usr/bin/env python3
"""How much a random-weight model amplifies a small error, in fp32 PyTorch, no quantization.

INT8 adds roughly 0.5-1% relative noise per quantized layer. Whether attention sites keep
cosine >= 0.99 depends on how the layers after it grow or shrink that noise. This script
adds seeded Gaussian noise of a given relative RMS to one block's output and measures the
relative L2 error it causes at the attention blocks, for the YAML-built (random, BatchNorm
re-estimated) model edgekit tests with. Writes benchmarks/results/amplification.{json,md}.

    python benchmarks/amplification.py [--model yolo26n.yaml] [--imgsz 640]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    import torch

    from edgekit.models.preprocess import image_batch, list_images
    from edgekit.models.reference import prepare
    from edgekit.models.source import resolve_source

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="yolo26n.yaml")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--at", default="0,4,8", help="blocks whose output gets the noise")
    ap.add_argument("--watch", default="10,22", help="blocks where the error is measured")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    a = ap.parse_args()
    x = image_batch(list_images(None), a.imgsz, count=2)
    prep = prepare(resolve_source(a.model), imgsz=a.imgsz, seed=0, end2end=True, dynamic=False,
                   images=None, example=x[:1])
    model = prep.loaded.model.eval()
    seq = model.model
    watch = [int(i) for i in a.watch.split(",")]
    outs: dict[int, torch.Tensor] = {}
    for i in watch:
        seq[i].register_forward_hook(lambda m, inp, out, i=i: outs.__setitem__(i, out.detach().clone()))

    def noisy(eps: float):
        def hook(mod, inp, out):
            g = torch.Generator().manual_seed(1)
            return out + torch.randn(out.shape, generator=g) * out.pow(2).mean().sqrt() * eps
        return hook

    xt = torch.from_numpy(x)
    rows = []
    with torch.no_grad():
        model(xt)
        ref = {k: v.clone() for k, v in outs.items()}
        for blk in [int(i) for i in a.at.split(",")]:
            for eps in (1e-3, 1e-2):
                h = seq[blk].register_forward_hook(noisy(eps))
                model(xt)
                h.remove()
                for k in watch:
                    rel = float((outs[k] - ref[k]).norm() / ref[k].norm())
                    rows.append({"noise_at": f"model.{blk}", "noise_rel_rms": eps,
                                 "measured_at": f"model.{k}", "rel_l2": rel,
                                 "gain": rel / eps, "cosine_equiv": 1 - rel**2 / 2})
    a.out.mkdir(parents=True, exist_ok=True)
    rep = {"model": a.model, "imgsz": a.imgsz, "images": 2, "rows": rows}
    (a.out / "amplification.json").write_text(json.dumps(rep, indent=2) + "\n")
    md = [f"# Error amplification in {a.model} at {a.imgsz} px (random weights, fp32 PyTorch)",
          "", "| noise at | relative RMS | measured at | relative L2 | gain |", "|---|---|---|---|---|"]
    md += [f"| {r['noise_at']} | {r['noise_rel_rms']:g} | {r['measured_at']} | "
           f"{r['rel_l2']:.4f} | {r['gain']:.1f}× |" for r in rows]
    (a.out / "amplification.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
