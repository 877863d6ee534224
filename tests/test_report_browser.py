"""The report in a real browser (headless Chromium through Playwright): it opens with no
console error and no request leaving the file, it is not blank, every section is there for a
YOLO26 and an RT-DETR bundle, and a planted fault shows as moved boxes.

Needs Debian's ``chromium`` (``apt-get install -y chromium``) and the ``playwright`` package
(the ``dev`` extra); Playwright's own browser download is not used."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import TINY_RTDETR, copy_bundle
from faults import perturb_site_weights

CHROMIUM = Path(os.environ.get("EDGEKIT_CHROMIUM", "/usr/bin/chromium"))
SITE = "model.22.m.0.1.attn"

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM}: install "
                       "Debian's chromium (apt-get install -y chromium) or set EDGEKIT_CHROMIUM"),
]
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed (the dev extra)")

#: a tune report and a fleet matrix in the shape their commands write (their own tests run
#: them; here only the page that draws them is under test)
TUNE = {"schema": "edgekit.tune/3", "backend": "openvino", "chosen": "scope-b",
        "why": "the fewest float nodes within 5% of the fastest", "passed": True,
        "candidates": [{"label": "scope-a", "passed": False, "p50_ms": 3.1, "float_nodes": 4},
                       {"label": "scope-b", "passed": True, "p50_ms": 3.3, "float_nodes": 9}]}
FLEET = {"schema": "edgekit.fleet/1", "cells": [
    {"model": "yolo26n", "profile": "intel-cpu-fp32", "device": "cpu-a", "passed": True},
    {"model": "yolo26n", "profile": "onnx-fp32", "device": "cpu-b", "passed": False}]}


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield b
        b.close()


def _documents(bundle: Path, root: Path, synth_data: Path) -> dict[str, object]:
    import edgekit

    bench = root / "bench.json"
    bench.write_text(edgekit.bench(bundle, iters=5, warmup=1).to_json())
    ev = root / "eval.json"
    ev.write_text(edgekit.eval(bundle, synth_data, max_images=2, reference="none").to_json())
    tune = root / "tune.json"
    tune.write_text(json.dumps(TUNE))
    (root / "fleet").mkdir()
    (root / "fleet" / "fleet.json").write_text(json.dumps(FLEET))
    return {"bench": [bench], "eval": ev, "tune": tune, "fleet": root / "fleet"}


def write_report(bundle: Path, out: Path, **docs) -> Path:
    from edgekit.report import build, check_inputs, write_html

    write_html(build(bundle, check_inputs(**docs)), out)
    return out


@pytest.fixture(scope="module")
def reports(tmp_path_factory, synth_data):
    import edgekit

    root = tmp_path_factory.mktemp("browser")
    out = {}
    for name, model in (("yolo26n", "yolo26n.yaml"), ("rtdetr", TINY_RTDETR)):
        bundle = edgekit.export(model, "intel-cpu-fp32", imgsz=64, out=root / name).bundle
        work = root / f"{name}-docs"
        work.mkdir()
        out[name] = (bundle, write_report(bundle, root / f"{name}.html",
                                          **_documents(bundle, work, synth_data)))
    return out


class Page:
    """A report opened in Chromium: every request and console error it caused."""

    def __init__(self, browser, path: Path) -> None:
        self.url = path.resolve().as_uri()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1200, "height": 900})
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

        def route(r):
            self.requests.append(r.request.url)
            r.continue_() if r.request.url == self.url else r.abort()

        self.page.route("**/*", route)
        self.page.goto(self.url, wait_until="load")

    def panels(self) -> list[dict[str, str]]:
        return self.page.eval_on_selector_all(
            "#detections .panel[data-runtime]:not([data-runtime=pytorch])",
            "els => els.map(e => ({runtime: e.dataset.runtime, missing: e.dataset.missing, "
            "extra: e.dataset.extra}))")


def blank(png: bytes) -> bool:
    """A screenshot with (almost) one colour."""
    from PIL import Image, ImageStat

    im = Image.open(io.BytesIO(png)).convert("L")
    return ImageStat.Stat(im).stddev[0] < 5 or len(im.getcolors(1 << 16) or []) < 8


@pytest.mark.parametrize("name", ["yolo26n", "rtdetr"])
def test_the_report_opens_offline_with_every_section(name, reports, browser):
    from edgekit.report.html import SECTIONS

    _, path = reports[name]
    p = Page(browser, path)
    assert p.errors == []
    assert p.requests == [p.url], "a request left the file"
    for sid in SECTIONS:
        sec = p.page.locator(f"section#{sid}")
        assert sec.count() == 1 and sec.is_visible(), sid
        assert sec.locator(".empty").count() == 0, f"{sid} is empty"
    assert p.page.locator("#parity svg").count() >= 1
    assert p.page.locator("#latency svg").count() >= 1 and p.page.locator("#accuracy svg").count()
    assert p.page.locator("#detections .panel").count() >= 3
    assert p.page.locator("#tune td", has_text="scope-b").count() == 1
    assert p.page.locator("#fleet td", has_text="cpu-b").count() == 1
    assert not blank(p.page.screenshot(full_page=True))
    p.page.close()


def test_a_blank_page_is_seen_blank(browser):
    """Twin of the screenshot check."""
    page = browser.new_page()
    page.set_content("<html><body></body></html>")
    assert blank(page.screenshot())
    page.close()


def test_a_planted_fault_shows_moved_boxes(reports, browser, tmp_path):
    """A site's weights scaled: its runtimes' boxes move (missing and extra ones marked),
    and parity marks the site; the sound bundle's page (the twin) marks none."""
    import edgekit

    bundle, clean = reports["yolo26n"]
    sound = Page(browser, clean).panels()
    assert sound and all(x["missing"] == "0" and x["extra"] == "0" for x in sound)
    b = copy_bundle(bundle, tmp_path / "b")
    perturb_site_weights(b, SITE, scale=3.0)
    parity = tmp_path / "parity.json"
    parity.write_text(edgekit.parity(b).to_json())
    p = Page(browser, write_report(b, tmp_path / "fault.html", parity=parity))
    moved = p.panels()
    assert moved and all(int(x["missing"]) + int(x["extra"]) > 0 for x in moved), moved
    assert p.page.locator(f'[data-first-divergent="{SITE}"]').count() >= 1
    assert p.page.locator("#detections rect.missing, #detections rect.extra").count() > 0
    if os.environ.get("EDGEKIT_KEEP_REPORTS"):
        shutil.copy(tmp_path / "fault.html", os.environ["EDGEKIT_KEEP_REPORTS"])
