"""The report as one self-contained HTML page: inline CSS, inline SVG charts, images as
data URIs, no script and nothing fetched. It reads only :class:`~edgekit.report.model.Report`."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from html import escape
from typing import TYPE_CHECKING

from .._lazy import require
from . import charts

if TYPE_CHECKING:
    from .model import Box, Overlay, Report, Table

#: every section of the page, by id, in order (each is always present; an empty one says
#: which option fills it)
SECTIONS = ("bundle", "parity", "detections", "latency", "accuracy", "tune", "fleet")

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1em 2em;
color:#212529}
h1{font-size:1.5em;margin-bottom:0}h2{border-bottom:1px solid #dee2e6;padding-bottom:.2em;
margin-top:2em}
table{border-collapse:collapse;margin:.5em 0;font-size:12px}td,th{border:1px solid #dee2e6;
padding:2px 6px;text-align:left;vertical-align:top}th{background:#f1f3f5}
.pass{color:#2b8a3e;font-weight:600}.fail{color:#c92a2a;font-weight:600}
.muted{color:#868e96}.hash{font-family:monospace;font-size:11px}
.row{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:1em}.panel{text-align:center}
.panel svg.image{width:260px;height:260px;border:1px solid #ced4da}
rect.matched{stroke:#2b8a3e}rect.reference{stroke:#1c7ed6}
rect.missing{stroke:#c92a2a;stroke-dasharray:4 3}rect.extra{stroke:#e67700}
rect.box{fill:none;stroke-width:2;vector-effect:non-scaling-stroke}
.legend span{margin-right:1em}figure{margin:0}svg{max-width:100%;height:auto}
"""


def _status(ok: bool | None, text: str | None = None) -> str:
    if ok is None:
        return f'<span class="muted">{escape(text or "n/a")}</span>'
    cls = "pass" if ok else "fail"
    return f'<span class="{cls}">{escape(text or ("pass" if ok else "fail"))}</span>'


def _table(columns: Iterable[str], rows: Iterable[Iterable[str]], raw: bool = False) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else escape(c)}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{escape(title)}</h2>\n{body}\n</section>\n'


def _missing(what: str) -> str:
    return f'<p class="muted empty">{escape(what)}</p>'


def _bundle(r: Report) -> str:
    b = r.bundle
    rows = [("model", b.model), ("family", b.family + (" (random weights)" if b.random_weights
                                                       else "")),
            ("profile", b.profile), ("precision", b.precision), ("input", f"{b.imgsz} px"),
            ("exported", f"{b.created} by edgekit {b.edgekit}"), ("bundle", b.path)]
    html = _table(("", ""), rows)
    rt = [(n, sec.get("artifact", ""), str(sec.get("precision", "")),
           ", ".join(f"{k}={v}" for k, v in sec.items() if k not in ("artifact", "precision")))
          for n, sec in b.runtimes.items()]
    html += "<h3>Runtimes: the precision in force</h3>" + _table(
        ("runtime", "artifact", "precision", "recorded settings"), rt)
    html += "<h3>Versions</h3>" + _table(("package", "version"),
                                         [(k, v or "not installed") for k, v in
                                          sorted(b.versions.items())])
    html += "<h3>Files (sha256, verified)</h3>" + _table(
        ("file", "sha256"), [(f, f'<span class="hash">{escape(h)}</span>')
                             for f, h in b.files.items()], raw=True)
    if b.notes:
        html += "<h3>Notes</h3><ul>" + "".join(f"<li>{escape(n)}</li>" for n in b.notes) + "</ul>"
    return html


def _parity(r: Report) -> str:
    if not r.parity:
        return _missing("no parity report")
    html = f'<p class="muted">{escape(r.parity_source)}</p>'
    for s in r.parity:
        first = (f" · first divergent: <b>{escape(s.first_divergent)}</b>"
                 if s.first_divergent else "")
        html += (f'<div class="backend" data-backend="{escape(s.backend)}" '
                 f'data-first-divergent="{escape(s.first_divergent or "")}">'
                 f"<h3>{escape(s.backend)}: {_status(s.passed, s.status)}{first} "
                 f'<span class="muted">({escape(s.verdict)} verdict)</span></h3>'
                 f"<figure>{charts.parity_chart(s)}</figure>")
        det = s.outputs.get("output0") or {}
        if det:
            html += "<p>output0 detections: " + ", ".join(
                f"{escape(k)} {v:g}" if isinstance(v, int | float) else f"{escape(k)} {v}"
                for k, v in det.items()) + "</p>"
        html += "</div>"
    return html


def jpeg_uri(image: object, quality: int = 80) -> str:
    pil = require("PIL.Image", extra="plot", purpose="report images")
    buf = io.BytesIO()
    pil.fromarray(image).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _boxes_svg(ref: str, w: int, h: int, boxes: Iterable[Box], names: dict[str, str]) -> str:
    rects = "".join(
        f'<rect class="box {b.status}" x="{b.xyxy[0]:.1f}" y="{b.xyxy[1]:.1f}" '
        f'width="{b.xyxy[2] - b.xyxy[0]:.1f}" height="{b.xyxy[3] - b.xyxy[1]:.1f}">'
        f"<title>{escape(names.get(str(b.cls), str(b.cls)))} {b.score:.2f} ({b.status})</title>"
        "</rect>" for b in boxes)
    return (f'<svg class="image" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">'
            f'<use href="#{ref}"/>{rects}</svg>')


def _detections(r: Report, names: dict[str, str]) -> str:
    if not r.overlays:
        return _missing(r.overlay_note or "no reference images to draw")
    html = ('<p class="legend"><span style="color:#1c7ed6">■ PyTorch</span>'
            '<span style="color:#2b8a3e">■ matched</span><span style="color:#c92a2a">'
            '▭ missing (PyTorch has it)</span><span style="color:#e67700">■ extra</span></p>')
    if r.overlay_note:
        html += f'<p class="muted">{escape(r.overlay_note)}</p>'
    for i, ov in enumerate(r.overlays):
        html += _overlay(ov, names, f"image-{i}")
    return html


def _overlay(ov: Overlay, names: dict[str, str], ref: str) -> str:
    """The image once (every panel draws it by reference), then PyTorch's boxes and each
    runtime's over it."""
    h, w = ov.image.shape[:2]
    image = (f'<svg width="0" height="0" style="position:absolute"><defs><image id="{ref}" '
             f'href="{jpeg_uri(ov.image)}" width="{w}" height="{h}"/></defs></svg>')
    cells = [f'<div class="panel" data-runtime="pytorch">'
             f"{_boxes_svg(ref, w, h, ov.reference, names)}<div>PyTorch: "
             f"{len(ov.reference)} boxes</div></div>"]
    for name, boxes in ov.runtimes.items():
        miss, extra = ov.count(name, "missing"), ov.count(name, "extra")
        cells.append(
            f'<div class="panel" data-runtime="{escape(name)}" data-missing="{miss}" '
            f'data-extra="{extra}">{_boxes_svg(ref, w, h, boxes, names)}<div>'
            f"{escape(name)}: {_status(miss + extra == 0, f'{miss} missing, {extra} extra')}"
            "</div></div>")
    return (f'<h4>{escape(ov.label)}</h4>{image}<div class="row overlay">{"".join(cells)}'
            "</div>")


def _latency(r: Report) -> str:
    if not r.latency:
        return _missing("no bench report: pass --bench JSON (from `edgekit bench --json`)")
    groups: dict[tuple[str, str], list] = {}
    for s in r.latency:
        groups.setdefault((s.source, s.scenario), []).append(s)
    html = ""
    for i, ((src, scenario), series) in enumerate(groups.items()):
        html += (f'<div class="scenario" data-scenario="{escape(scenario)}"><h3>'
                 f"{escape(scenario)} <span class=\"muted\">{escape(src)}</span></h3>")
        html += f"<figure>{charts.latency_chart(series, str(i))}</figure>"
        cols = ("backend", "mode", "n", "p50", "p90", "p99", "max", "jitter p99-p50", "fps")
        rows = [(s.backend, s.mode.replace("_", "-"), *(
            f"{s.stats[k]:.3f}" if isinstance(s.stats.get(k), float) else str(s.stats.get(k, ""))
            for k in ("n", "p50", "p90", "p99", "max", "jitter_p99_p50", "fps"))) for s in series]
        html += _table(cols, rows) + "</div>"
    return html


def _accuracy(r: Report) -> str:
    ev = r.accuracy
    if ev is None:
        return _missing("no eval report: pass --eval JSON (from `edgekit eval --json`)")
    rows = [(name, *(f"{v:.2f}" if v is not None else "" for v in (
        None if o["map50_95"] is None else o["map50_95"] * 100,
        None if o["map50"] is None else o["map50"] * 100, o["drop_map50_95"])))
        for name, o in ev.overall.items()]
    html = (f"<p>{escape(ev.data)} · gate {_status(ev.passed)}</p>"
            + _table(("", "mAP50-95 %", "mAP50 %", "drop (points)"), rows))
    if ev.classes:
        html += f"<figure>{charts.map_chart(ev)}</figure>"
    return html


def _table_section(t: Table | None, what: str) -> str:
    if t is None:
        return _missing(what)
    return (f"<p>{escape(t.note)}</p>" if t.note else "") + _table(t.columns, t.rows)


def render(r: Report) -> str:
    """The whole page."""
    names = r.bundle.names
    title = f"edgekit report: {r.bundle.model} · {r.bundle.profile}"
    body = (_section("bundle", "Bundle", _bundle(r))
            + _section("parity", "Parity along the network", _parity(r))
            + _section("detections", "Detections: PyTorch and each runtime", _detections(r, names))
            + _section("latency", "Latency", _latency(r))
            + _section("accuracy", "Accuracy (mAP)", _accuracy(r))
            + _section("tune", "Tune", _table_section(
                r.tune, "no tune report: pass --tune JSON (tune.json from `edgekit tune`)"))
            + _section("fleet", "Fleet", _table_section(
                r.fleet, "no fleet results: pass --fleet DIR (a folder with fleet.json)")))
    given = " · ".join(f"{k}: {escape(v)}" for k, v in r.given.items())
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "img-src data:; style-src 'unsafe-inline'\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{escape(title)}</h1><p class=\"muted\">{given}</p>\n{body}</body></html>\n")
