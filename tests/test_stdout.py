"""stdout carries data only: `--json -` parses whatever the backend printed; third-party
chatter reaches stderr with --verbose and nowhere without it."""

import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from conftest import run_cli

# a fresh Ultralytics config dir makes `import ultralytics` print "Creating new Ultralytics
# Settings ..." on stdout, as it does the first time on any machine: real chatter to test with
SETTINGS_LINE = "Creating new Ultralytics Settings"


def _fresh_ultralytics(tmp_path):
    return {"YOLO_CONFIG_DIR": str(tmp_path / "ultralytics-config")}


def _parse_stdout(r):
    assert r.returncode in (0, 1), (r.returncode, r.stderr[-2000:])
    try:
        return json.loads(r.stdout)
    except ValueError:
        pytest.fail(f"stdout is not JSON:\n{r.stdout[:2000]}")


def test_bench_torch_on_rtdetr_json_stdout_parses(rtdetr_bundle, tmp_path):
    r = run_cli("bench", str(rtdetr_bundle.bundle), "--backend", "torch", "--iters", "3",
                "--warmup", "1", "--model-only", "--json", "-", env=_fresh_ultralytics(tmp_path))
    rep = _parse_stdout(r)
    assert rep["schema"] == "edgekit.bench/1" and "torch" in rep["backends"]
    assert SETTINGS_LINE not in r.stderr  # hidden without --verbose


def test_verbose_shows_third_party_chatter_on_stderr_only(rtdetr_bundle, tmp_path):
    """Twin of the test above: the chatter really happens (so that test can fail), and with
    --verbose it goes to stderr while stdout still parses."""
    r = run_cli("--verbose", "bench", str(rtdetr_bundle.bundle), "--backend", "torch",
                "--iters", "3", "--warmup", "1", "--model-only", "--json", "-",
                env=_fresh_ultralytics(tmp_path))
    _parse_stdout(r)
    assert SETTINGS_LINE in r.stderr


def test_bench_default_backends_json_stdout_parses(yolo_bundle, tmp_path):
    r = run_cli("bench", str(yolo_bundle.bundle), "--iters", "3", "--warmup", "1",
                "--json", "-", env=_fresh_ultralytics(tmp_path))
    rep = _parse_stdout(r)
    assert set(rep["backends"]) >= {"onnxruntime", "openvino"}


def test_parity_json_stdout_parses(yolo_bundle, tmp_path):
    r = run_cli("parity", str(yolo_bundle.bundle), "--json", "-",
                env=_fresh_ultralytics(tmp_path))
    rep = _parse_stdout(r)
    assert rep["schema"] == "edgekit.parity/1" and set(rep["backends"]) == {"onnxruntime",
                                                                            "openvino"}


def test_parity_with_reference_json_stdout_parses(rtdetr_bundle, tmp_path):
    """--reference rebuilds the model with torch and Ultralytics (import-time chatter)."""
    r = run_cli("parity", str(rtdetr_bundle.bundle), "--backend", "onnxruntime",
                "--reference", rtdetr_bundle.manifest.source.spec, "--json", "-",
                env=_fresh_ultralytics(tmp_path))
    assert _parse_stdout(r)["reference"] == "pytorch-fp32 (recomputed)"


def test_tune_json_stdout_parses(yolo_bundle, tmp_path):
    """tune builds with NNCF (progress bars) and imports torch ("No CUDA runtime is found")."""
    r = run_cli("tune", str(yolo_bundle.bundle), "--out", str(tmp_path / "t"), "--iters", "5",
                "--time-limit", "1", "--json", "-", env=_fresh_ultralytics(tmp_path),
                timeout=600)
    rep = _parse_stdout(r)
    assert rep["candidates"] and rep["chosen"]
    for chatter in ("Statistics collection", "No CUDA runtime", SETTINGS_LINE):
        assert chatter not in r.stderr


def test_other_data_commands_print_only_data(yolo_bundle):
    r = run_cli("inspect", str(yolo_bundle.bundle), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)[0]["name"]
    r = run_cli("doctor", "--json")
    assert r.returncode == 0 and "runtimes" in json.loads(r.stdout)
    r = run_cli("profiles", "show", "intel-cpu-int8")
    assert r.returncode == 0 and yaml.safe_load(r.stdout)["precision"] == "int8"


def test_eval_json_stdout_parses(trained_rtdetr, synth_data, bundles_root, tmp_path):
    """eval with the torch reference on an RT-DETR bundle (Ultralytics' model-scale warning)
    and a fresh Ultralytics config (its settings line): stdout is the report alone."""
    from conftest import build_bundle

    b = build_bundle(bundles_root / "eval-stdout", str(trained_rtdetr.path), "onnx-fp32")
    r = run_cli("eval", str(b.bundle), "--data", str(synth_data), "--max-images", "4",
                "--json", "-", env=_fresh_ultralytics(tmp_path), timeout=600)
    rep = _parse_stdout(r)
    assert rep["schema"] == "edgekit.eval/1" and rep["reference"]["backend"] == "torch"
    assert SETTINGS_LINE not in r.stderr


@pytest.mark.parametrize("cmd", ["parity", "bench", "tune", "eval"])
def test_json_option_says_dash_is_stdout(cmd):
    r = run_cli(cmd, "--help")
    assert r.returncode == 0 and "--json" in r.stdout and "'-'" in r.stdout


NOISY = textwrap.dedent("""
    import ctypes, os, sys
    from edgekit.cli._streams import data_out, third_party_output

    def noise():
        print("python-print noise")               # sys.stdout
        os.write(1, b"fd1 noise\\n")               # C-level write to fd 1
        ctypes.CDLL(None).printf(b"libc printf noise\\n")  # buffered C stdio
        os.write(2, b"fd2 noise\\n")               # C-level write to fd 2

    if sys.argv[1] == "none":
        noise()
        data_out().write('{"data": 1}\\n')
    else:
        with third_party_output(verbose=sys.argv[1] == "verbose"):
            noise()
            data_out().write('{"data": 1}\\n')
""")


def _noisy(mode):
    return subprocess.run([sys.executable, "-c", NOISY, mode], capture_output=True, text=True,
                          timeout=60)


def test_redirection_catches_python_and_c_level_writes():
    r = _noisy("quiet")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"data": 1}
    assert "noise" not in r.stderr
    r = _noisy("verbose")
    assert json.loads(r.stdout) == {"data": 1}
    for n in ("python-print", "fd1", "libc printf", "fd2"):
        assert f"{n} noise" in r.stderr


def test_without_redirection_the_noise_breaks_stdout():
    """Twin: the same writes, outside third_party_output, land on stdout."""
    r = _noisy("none")
    assert "fd1 noise" in r.stdout and "libc printf noise" in r.stdout
    with pytest.raises(ValueError):
        json.loads(r.stdout)


@pytest.mark.slow
def test_bench_torch_on_rtdetr_l_json_stdout_parses(tmp_path):
    """The reported case: rtdetr-l.yaml names no scale, and Ultralytics warns about it on
    stdout every time the torch backend rebuilds the model."""
    r = run_cli("export", "rtdetr-l.yaml", "--profile", "onnx-fp32", "--imgsz", "160",
                "--no-parity", "--out", str(tmp_path), timeout=900)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    r = run_cli("bench", str(tmp_path / "rtdetr-l-onnx-fp32-160"), "--backend", "torch",
                "--iters", "2", "--warmup", "1", "--model-only", "--json", "-")
    _parse_stdout(r)
    assert "no model scale passed" not in r.stdout + r.stderr
