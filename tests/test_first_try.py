"""A user's own checkpoint, first try: trained on other classes than COCO's (the zoo's shapes
checkpoint), it exports with no extra flags when the dataset its training recorded is here
(its val images join the reference, and the log says so); with that dataset moved away it
says so; when parity then compares nothing, the failure names the fix (--images, --data)."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import run_cli


def own_checkpoint(trained: Path, synth_data: Path, root: Path) -> tuple[Path, Path]:
    """A copy of the shapes checkpoint whose training recorded a copy of its dataset (so the
    test can move that copy away). Returns (checkpoint, data.yaml)."""
    import torch
    import yaml

    data_dir = shutil.copytree(synth_data.parent, root / "shapes")
    cfg = yaml.safe_load((data_dir / "data.yaml").read_text())
    cfg["path"] = str(data_dir)
    (data_dir / "data.yaml").write_text(yaml.safe_dump(cfg))
    ckpt = torch.load(trained, map_location="cpu", weights_only=False)  # the zoo's own file
    ckpt["train_args"]["data"] = str(data_dir / "data.yaml")
    torch.save(ckpt, root / "best.pt")
    return root / "best.pt", data_dir / "data.yaml"


def test_own_checkpoint_first_try(trained_yolo, synth_data, tmp_path):
    best, data = own_checkpoint(Path(trained_yolo.path), synth_data, tmp_path)
    r = run_cli("export", str(best), "--imgsz", "160", "--out", str(tmp_path / "b"), timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"val images of {data}" in r.stderr
    from edgekit.bundle import load_bundle

    (bundle,) = (tmp_path / "b").iterdir()
    val = {p.name for p in (data.parent / "images" / "val").iterdir()}
    assert val & set(load_bundle(bundle).manifest.reference.inputs)

    # the twin: its dataset moved away, the reference falls back to the samples, and says so
    data.parent.rename(tmp_path / "elsewhere")
    r = run_cli("export", str(best), "--imgsz", "160", "--out", str(tmp_path / "c"), timeout=900)
    assert "which is not here: the reference uses the sample images only" in r.stderr
    if r.returncode == 0:  # this checkpoint finds (spurious) shapes on the samples too
        (bundle,) = (tmp_path / "c").iterdir()
        assert not val & set(load_bundle(bundle).manifest.reference.inputs)


def test_nothing_to_compare_names_the_fix():
    """When a backend's output compared nothing, the advice names --images and --data; when
    it compared detections (the twin), there is none. (The shapes checkpoint cannot show it
    end to end: it finds shapes on the seeded noise input too, so its output always compares;
    the issue's own checkpoint found none.)"""
    from edgekit.export.images import advice

    def report(status: str) -> dict:
        return {"backends": {"openvino": {"passed": status == "pass", "status": status}}}

    fix = advice(report("not_compared"))
    assert fix and "--images DIR" in fix and "--data DATA.yaml" in fix
    assert advice(report("pass")) is None and advice(report("fail")) is None
    assert advice(None) is None
