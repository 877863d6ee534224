"""What tune writes: the tuned profile (YAML) and a bundle with the chosen build and the
search report (``tune.json``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..bundle import Bundle, BundleWriter, write_manifest

if TYPE_CHECKING:
    from ..profiles.schema import Profile
    from .candidates import Candidate


def tuned_name(profile: Profile, b: Bundle) -> str:
    return f"{profile.name}-tuned-{b.path.name}"


def describe_choice(profile: Profile, b: Bundle, c: Candidate, backend: str) -> str:
    """The tuned profile's description: what was chosen, and what really runs in float and
    at what precision (in edgekit's runners, and, where the runtime says, for a plain
    client of the artifact on this machine)."""
    from ..runtimes import get_runtime

    if c.precision == "int8":
        what = (f"INT8; kept float: {', '.join(c.scope.labels()) or 'nothing'}; the float parts "
                f"run at {c.float_precision} in edgekit's runners")
    else:
        what = f"no INT8: the float model run at {c.float_precision}"
    text = f"Chosen by edgekit tune on {b.path.name}: {c.label} ({what})."
    report = get_runtime(backend).float_report(c.artifact) if c.artifact else None
    if report:
        counts = ", ".join(f"{n} at {p}" for p, n in sorted(report["float_ops"].items()))
        text += (f" A plain client here (default {report['default_hint']}) runs its float ops "
                 f"{counts or 'none'}" + (f" and {report['int8_ops']} ops in int8"
                                          if report.get("int8_ops") else "") + ".")
    if c.map_drop is not None:
        text += f" mAP50-95 drop {c.map_drop:+.2f} points against the float build."
    return f"{text} Tuned from profile {profile.name}."


def write_result(b: Bundle, profile: Profile, chosen: Candidate, report: dict[str, Any],
                 out: Path, force: bool = False) -> dict[str, str]:
    """The tuned profile beside ``out``'s bundles, and the tuned bundle: the source bundle's
    files with the chosen build in place of every runtime build it had."""
    import yaml

    from ..profiles.schema import Precision
    from ..runtimes import runtime_names

    backend = report["backend"]
    name = tuned_name(profile, b)
    # the tuned profile judges its bundle as the search judged the chosen build
    tuned = profile.model_copy(update={"precision": Precision(chosen.precision),
                                       "float_precision": chosen.float_precision})
    data = tuned.with_tolerances(report.get("tolerance_overrides") or {}).model_dump(mode="json")
    data["name"] = name
    data["description"] = describe_choice(profile, b, chosen, backend)
    data["calibration"].update(chosen.scope.as_calibration())
    out.mkdir(parents=True, exist_ok=True)
    yml = out / f"{name}.yaml"
    tmp = yml.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    tmp.replace(yml)
    dest = out / name
    runtimes = runtime_names()
    skip = {"manifest.json", "parity.json", "tune.json", *runtimes}
    assert chosen.built is not None and chosen.built.artifact is not None and chosen.root
    top = Path(chosen.built.artifact).parts[0]  # the build's folder (openvino/, onnxruntime/)
    with BundleWriter(dest, force=force) as d:
        for p in b.path.iterdir():
            if p.name in skip:
                continue
            (shutil.copytree if p.is_dir() else shutil.copy2)(p, d / p.name)
        m = b.manifest
        for k in runtimes:
            m = m.without_runtime(k)
        shutil.copytree(chosen.root / top, d / top)
        m = m.with_runtime(backend, {**chosen.built.section,
                                     "tuned": chosen.scope.as_calibration()},
                           artifact=chosen.built.artifact)
        (d / "parity.json").write_text(json.dumps(chosen.parity, indent=2) + "\n")
        (d / "tune.json").write_text(json.dumps(report, indent=2) + "\n")
        write_manifest(d, m.replace(profile=data, parity={
            "passed": chosen.passed, "first_divergent": {backend: chosen.first_divergent}}))
    return {"profile": str(yml), "bundle": str(dest)}
