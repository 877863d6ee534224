"""edgekit.zoo: the synthetic dataset and the training recipe are deterministic on one
machine, and trained checkpoints are cached atomically."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from edgekit.zoo import train as zt
from edgekit.zoo.synth import CLASSES, SynthSpec, make_dataset


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "data.yaml"}


def test_dataset_is_deterministic(tmp_path):
    spec = SynthSpec(n_train=6, n_val=3, seed=7)
    a = _digest(make_dataset(tmp_path / "a", spec).parent)
    b = _digest(make_dataset(tmp_path / "b", spec).parent)
    assert a == b and len(a) == 2 * 9 + 1
    # twin: another seed gives other images
    c = _digest(make_dataset(tmp_path / "c", SynthSpec(n_train=6, n_val=3, seed=8)).parent)
    assert c.keys() == a.keys() and c != a


def test_dataset_is_a_yolo_dataset_with_varied_boxes(tmp_path):
    import yaml

    data = make_dataset(tmp_path / "d", SynthSpec(n_train=30, n_val=4, seed=0))
    cfg = yaml.safe_load(data.read_text())
    assert cfg["names"] == dict(enumerate(CLASSES)) and Path(cfg["path"]) == data.parent
    rows = np.array([[float(v) for v in ln.split()]
                     for f in sorted((data.parent / "labels" / "train").glob("*.txt"))
                     for ln in f.read_text().splitlines()])
    assert len(list((data.parent / "images" / "train").glob("*.jpg"))) == 30
    assert set(rows[:, 0].astype(int)) == set(range(len(CLASSES)))
    assert (rows[:, 1:] > 0).all() and (rows[:, 1:] <= 1).all()
    area, aspect = rows[:, 3] * rows[:, 4], rows[:, 3] / rows[:, 4]
    assert area.max() / area.min() > 10 and aspect.max() / aspect.min() > 3
    # an existing dataset of another spec is never overwritten
    from edgekit.errors import UsageError

    with pytest.raises(UsageError):
        make_dataset(data.parent, SynthSpec(n_train=31, n_val=4))


MICRO = zt.Recipe("micro", "yolo26n.yaml", SynthSpec(n_train=16, n_val=4, seed=3), imgsz=96,
                  epochs=2, batch=8)


def _weights(ck: zt.Checkpoint) -> dict[str, np.ndarray]:
    from edgekit.models.build import load_model
    from edgekit.models.source import resolve_source

    lm = load_model(resolve_source(str(ck.path)))
    return {k: v.numpy().copy() for k, v in lm.model.state_dict().items()}


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("model", ["yolo26n.yaml", zt.RTDETR_TINY], ids=["yolo26n", "rtdetr"])
def test_training_is_deterministic(tmp_path, model):
    """Same recipe, two separate caches (so really trained twice): identical weights and
    identical val metrics. Twin: another seed gives other weights."""
    import dataclasses

    recipe = dataclasses.replace(MICRO, model=model)
    a = zt.checkpoint(recipe, root=tmp_path / "a")
    b = zt.checkpoint(recipe, root=tmp_path / "b")
    assert a.path != b.path and a.info["created"]
    wa = _weights(a)
    assert _same(wa, _weights(b))
    assert a.info["ultralytics_val"] == b.info["ultralytics_val"]
    if model == "yolo26n.yaml":
        c = zt.checkpoint(dataclasses.replace(recipe, seed=1), root=tmp_path / "c")
        assert not _same(wa, _weights(c))


def test_checkpoints_are_cached_and_written_atomically(tmp_path, monkeypatch):
    calls = []

    def fake_train(recipe, data_yaml, out):
        calls.append(recipe.name)
        if recipe.epochs == 99:
            raise RuntimeError("planted training failure")
        (out / f"{recipe.name}.pt").write_bytes(b"weights")
        (out / "run").mkdir()
        return {"recipe": recipe.to_dict(), "data_yaml": str(data_yaml)}

    monkeypatch.setattr(zt, "train_in_subprocess", fake_train)
    recipe = zt.Recipe("fake", "yolo26n.yaml", SynthSpec(n_train=2, n_val=1), epochs=1)
    first = zt.checkpoint(recipe, root=tmp_path)
    again = zt.checkpoint(recipe, root=tmp_path)
    assert calls == ["fake"] and first.path == again.path and first.path.read_bytes() == b"weights"
    assert not (first.path.parent / "run").exists()
    # a changed recipe is another entry, trained anew; several at once train only what is missing
    both = zt.checkpoints([recipe, zt.Recipe("fake", "yolo26n.yaml", recipe.data, epochs=2)],
                          root=tmp_path)
    assert calls == ["fake", "fake"] and both[0].path == first.path != both[1].path
    # a failed training leaves nothing under a final name
    with pytest.raises(RuntimeError):
        zt.checkpoint(zt.Recipe("fake", "yolo26n.yaml", recipe.data, epochs=99), root=tmp_path)
    entries = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert len(entries) == 3 and "data" in entries  # two checkpoints and the dataset
    assert not [p for p in tmp_path.iterdir() if p.is_dir() and p.name.startswith(".")]


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(zt.ENV_CACHE, str(tmp_path / "zoo"))
    assert zt.cache_root() == tmp_path / "zoo"
    monkeypatch.delenv(zt.ENV_CACHE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert zt.cache_root() == tmp_path / "xdg" / "edgekit" / "zoo"


def test_recipe_key_does_not_depend_on_the_checkout_path(tmp_path):
    """A clean clone elsewhere must find the checkpoints trained from another checkout; a
    changed YAML text must not."""
    import dataclasses
    import shutil

    from edgekit.zoo.train import RECIPES, RTDETR_TINY, recipe_key

    base = RECIPES["rtdetr-tiny-test"]
    moved = tmp_path / "elsewhere" / "rtdetr-tiny.yaml"
    moved.parent.mkdir()
    shutil.copy(RTDETR_TINY, moved)
    assert recipe_key(dataclasses.replace(base, model=str(moved))) == recipe_key(base)
    moved.write_text(moved.read_text() + "\n# changed\n")
    assert recipe_key(dataclasses.replace(base, model=str(moved))) != recipe_key(base)
