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


def write_result(b: Bundle, profile: Profile, chosen: Candidate, report: dict[str, Any],
                 out: Path, force: bool = False) -> dict[str, str]:
    """The tuned profile beside ``out``'s bundles, and the tuned bundle: the source bundle's
    files with the chosen build in place of every runtime build it had."""
    import yaml

    from ..runtimes import runtime_names

    backend = report["backend"]
    name = tuned_name(profile, b)
    data = profile.model_dump(mode="json")
    data["name"] = name
    data["description"] = (f"{profile.description.strip()} Float scope chosen by edgekit tune "
                           f"on {b.path.name}: {chosen.label}.")
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
