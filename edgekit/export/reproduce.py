"""``reproduce.sh``: the export command that re-creates a bundle, with every option that
shaped it, shell-quoted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..profiles.schema import Profile


def profile_flags(profile: Profile) -> list[str] | None:
    """``--profile NAME`` plus the flags that turn the shipped profile NAME into ``profile``
    exactly; None when no such flags exist (a profile from a file, or edited fields)."""
    from ..profiles import list_profiles, load_profile, shipped_dirs

    known = list_profiles().get(profile.name)
    if known is None or known.parent not in shipped_dirs():
        return None
    base = load_profile(known)
    flags = ["--profile", profile.name, "--imgsz", str(profile.imgsz)]
    over: dict[str, Any] = {"imgsz": profile.imgsz}
    if profile.batch.size != base.batch.size:
        flags += ["--batch", str(profile.batch.size)]
        over["batch.size"] = profile.batch.size
    if profile.opset != base.opset and profile.opset is not None:
        flags += ["--opset", str(profile.opset)]
        over["opset"] = profile.opset
    if profile.runtime.threads != base.runtime.threads and profile.runtime.threads is not None:
        flags += ["--threads", str(profile.runtime.threads)]
        over["runtime.threads"] = profile.runtime.threads
    if profile.simplify != base.simplify:
        flags.append("--simplify" if profile.simplify else "--no-simplify")
        over["simplify"] = profile.simplify
    return flags if load_profile(known, over) == profile else None


PROFILE_COPY = "profile.yaml"


def write_reproduce(tmp: Path, src: Any, profile: Profile, *, seed: int, end2end: bool | None,
                    parity: bool, images: str | None, out_dir: Path, image_info: dict[str, Any],
                    data: str | None = None, fraction: float | None = None,
                    exporter: str = "torchscript", allow_known_issues: tuple[str, ...] = ()) -> None:
    """``reproduce.sh``: the export command with every option that shaped the bundle, shell
    quoted. A profile that no shipped name plus flags gives is copied into the bundle."""
    import shlex

    model = src.spec if src.path is None else str(src.path)  # a shipped YAML name, else a file
    flags = profile_flags(profile)
    profile_arg = ""
    if flags is None:
        import yaml

        (tmp / PROFILE_COPY).write_text(yaml.safe_dump(profile.model_dump(mode="json"),
                                                       sort_keys=False))
        profile_arg = f' --profile "$(dirname "$0")/{PROFILE_COPY}"'
        flags = []
    flags += ["--seed", str(seed), "--exporter", exporter]
    for issue in allow_known_issues:
        flags += ["--allow-known-issue", issue]
    if end2end is not None:  # the YOLO head exported (None: not a YOLO model)
        flags.append("--end2end" if end2end else "--no-end2end")
    if not parity:
        flags.append("--no-parity")
    if images is not None:
        flags += ["--images", str(Path(images).resolve())]
    if data is not None:
        flags += ["--data", str(Path(data).resolve())]
    if fraction is not None:
        flags += ["--fraction", repr(fraction)]
    flags += ["--out", str(out_dir.resolve())]
    inputs = ("the sample images shipped with ultralytics" if image_info["dir"] is None
              else json.dumps(image_info["dir"]))  # escaped: a comment stays one line
    (tmp / "reproduce.sh").write_text(
        "#!/bin/sh\n"
        "# Re-create this bundle. Arguments are passed on: --out DIR to build it elsewhere,\n"
        "# --force to replace it in place.\n"
        f"# Inputs: {inputs} ({len(image_info['files'])} image(s), list sha256 "
        f"{image_info['sha256'][:16]}..., see manifest.json 'images').\n"
        f"exec edgekit export {shlex.quote(model)}{profile_arg} {shlex.join(flags)} \"$@\"\n")
