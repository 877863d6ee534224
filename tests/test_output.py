"""Human output: tables readable at 80 columns in a pipe, and the --plot figure."""

import io

import numpy as np
import pytest

from conftest import run_cli

NARROW = {"COLUMNS": "80"}


def assert_fits(text, width=80):
    """Every line fits, and nothing was cut with an ellipsis."""
    long = [line for line in text.splitlines() if len(line.rstrip()) > width]
    assert not long, long[:3]
    assert "…" not in text, text


def test_the_checker_catches_a_cut_table():
    # the planted fault: a plain rich table at 80 columns cuts its long cells
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    t = Table("profile", "tensor", "why")
    t.add_row("jetson-orin-fp16", "tap::model.26.decoder.layers.0.cross_attn", "x " * 40)
    Console(file=buf, width=80).print(t)
    with pytest.raises(AssertionError):
        assert_fits(buf.getvalue())


def test_parity_and_inspect_fit_80_columns_and_keep_every_name(rtdetr_bundle, tmp_path):
    b = str(rtdetr_bundle.bundle)
    names = [t.name for t in rtdetr_bundle.manifest.taps]
    r = run_cli("parity", b, "--backend", "onnxruntime", env=NARROW)
    assert r.returncode == 0, r.stderr
    assert_fits(r.stderr)
    lines = [line.split() for line in r.stderr.splitlines()]
    for n in names:
        if n == "model.26.decoder":  # the query tap aligns the decoder sites; not a row
            continue
        # a long name breaks after a dot onto the next line: its pieces start two lines
        pieces = n.split("layers.") if len(n) > 20 else [n]
        pieces = [pieces[0], "layers." + pieces[1]] if len(pieces) == 2 else pieces
        rows = [i for i, ws in enumerate(lines) if ws and ws[0] == pieces[0]]
        assert any(lines[i + 1][:1] == pieces[1:] or len(pieces) == 1 for i in rows), (n, r.stderr)
    r = run_cli("inspect", b, env=NARROW)
    assert r.returncode == 0
    assert_fits(r.stdout)
    assert "cross_attn" in r.stdout and "DeformableTransformerDecoder" in r.stdout
    # a wide terminal keeps the one-line layout
    r = run_cli("inspect", b, env={"COLUMNS": "200"})
    assert "tap::model.26.decoder.layers.0.cross_attn" in r.stdout


def test_bench_compare_doctor_profiles_fit_80_columns(yolo_bundle, tmp_path):
    rep = tmp_path / "a.json"
    r = run_cli("bench", str(yolo_bundle.bundle), "--iters", "3", "--warmup", "1",
                "--json", str(rep), env=NARROW)
    assert r.returncode == 0, r.stderr
    assert_fits(r.stderr)
    assert "preprocess" in r.stderr and "inference" in r.stderr  # stage names, not "infe"
    r = run_cli("bench", "compare", str(rep), str(rep), env=NARROW)
    assert r.returncode == 0
    assert_fits(r.stderr)
    r = run_cli("doctor", env=NARROW)
    assert r.returncode == 0
    assert_fits(r.stdout)
    assert "jetson-orin-fp16" in r.stdout
    r = run_cli("profiles", "list", env=NARROW)
    assert r.returncode == 0
    assert_fits(r.stdout)
    assert "jetson-orin-int8" in r.stdout


def test_tune_table_fits_80_columns():
    from rich.console import Console

    from edgekit.cli.render.tune import render_tune as render

    cand = {"label": "+ blocks model.0-10", "float_scope": ["attention", "softmax"],
            "float_sites": {"model.26.decoder.layers.0.cross_attn": "all"},
            "float_blocks": ["model.1", "model.2"], "worst_cosine": 0.99512,
            "first_divergent": "model.26.decoder.layers.0.cross_attn", "p50_ms": 12.5,
            "p99_ms": 14.0, "speedup": 1.21, "passed": False, "site_passed": {},
            "site_cosine": {}}
    report = {"bundle": "rtdetr-l-intel-cpu-fp32-640", "profile": "intel-cpu-int8",
              "backend": "openvino", "decoder_sites": ["model.26.decoder.layers.0.cross_attn"],
              "fp32": {"p50_ms": 15.0, "p99_ms": 16.0}, "candidates": [cand],
              "chosen": cand["label"], "why": "the fastest that keeps parity", "outputs": {}}
    buf = io.StringIO()
    render(report, Console(file=buf, width=80))
    assert_fits(buf.getvalue())
    assert "cross_attn" in buf.getvalue()


def test_plot_shares_bins_and_has_a_title_with_model_profile_and_conditions():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from edgekit.bench.report import figure

    rng = np.random.default_rng(0)
    fast, slow = rng.normal(5, 0.2, 200), rng.normal(9, 1.5, 200)
    report = {"target": "bundles/yolo26n-intel-cpu-fp32-320", "created": "2026-11-25T01:00:00",
              "model": {"source": "yolo26n.yaml", "profile": "intel-cpu-fp32", "imgsz": 320},
              "config": {"iters": 200, "threads": 2, "batch": 1, "hint": "latency"},
              "conditions": {"cpu": {"model": "AMD EPYC"}}, "verdict": {},
              "backends": {"onnxruntime": {"samples_ms": {"model_only": fast.tolist()}},
                           "openvino": {"samples_ms": {"model_only": slow.tolist()}}}}
    fig = figure(report)
    try:
        hist = fig.axes[1]
        lefts = [sorted({round(p.get_x(), 9) for p in c}) for c in hist.containers]
        assert len(lefts) == 2 and lefts[0] == lefts[1]  # the same bins for both series
        # per-series bins (the fault this guards against) would differ
        assert not np.allclose(np.histogram_bin_edges(fast, 40), np.histogram_bin_edges(slow, 40))
        title = fig._suptitle.get_text()
        for part in ("yolo26n.yaml", "intel-cpu-fp32", "320px", "AMD EPYC", "threads 2",
                     "batch 1", "200 iterations"):
            assert part in title, title
    finally:
        plt.close(fig)


def test_step_summaries_of_two_runs_can_be_told_apart(yolo_bundle, rtdetr_bundle, tmp_path):
    from edgekit.parity.report import markdown

    heads = [markdown(b.parity).splitlines()[0] for b in (yolo_bundle, rtdetr_bundle)]
    assert heads[0] != heads[1]
    assert yolo_bundle.bundle.name in heads[0] and "openvino" in heads[0]


def test_eval_tables_fit_80_columns(trained_yolo_bundle, synth_data):
    r = run_cli("eval", str(trained_yolo_bundle.bundle), "--data", str(synth_data),
                "--max-images", "4", env=NARROW, timeout=600)
    assert r.returncode == 0, r.stderr
    assert_fits(r.stderr)
    for word in ("onnxruntime", "openvino", "torch", "rectangle", "mAP50-95"):
        assert word in r.stderr
