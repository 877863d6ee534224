"""Export profiles: the schema, and loading them by name or path with CLI overrides."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UsageError

__all__ = ["apply_overrides", "list_profiles", "load_profile", "profile_dirs", "shipped_dirs"]


def shipped_dirs() -> list[Path]:
    """The profiles that ship with edgekit: inside the wheel (edgekit/profiles/shipped) or,
    in a checkout, export_profiles/."""
    here = Path(__file__).resolve().parent
    return [d for d in (here / "shipped", here.parent.parent / "export_profiles") if d.is_dir()]


def profile_dirs() -> list[Path]:
    """Where named profiles are looked up: $EDGEKIT_PROFILES, then the shipped ones."""
    dirs: list[Path] = []
    env = os.environ.get("EDGEKIT_PROFILES")
    if env:
        dirs += [Path(p) for p in env.split(os.pathsep) if p]
    return [d for d in dirs if d.is_dir()] + shipped_dirs()


def list_profiles() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in profile_dirs():
        for p in sorted(d.glob("*.yaml")):
            found.setdefault(p.stem, p)
    return found


def _resolve(name_or_path: str | os.PathLike[str]) -> Path:
    s = str(name_or_path)
    p = Path(s)
    if p.suffix in (".yaml", ".yml") or os.sep in s or p.exists():
        if not p.is_file():
            raise UsageError(f"profile file not found: {s}")
        return p
    known = list_profiles()
    if s not in known:
        raise UsageError(
            f"unknown profile '{s}'. Known: {', '.join(sorted(known)) or 'none'}; "
            "or pass a path to a YAML file"
        )
    return known[s]


def _format_loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(x) for x in loc) or "(top level)"


def _validate(data: Any, source: str):  # -> Profile
    from pydantic import ValidationError

    from .schema import Profile

    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a profile must be a mapping of fields")
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        raise ConfigError(f"{source}: field '{_format_loc(err['loc'])}': {msg}{more}") from exc


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    if data is None:
        data = {}
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
    return data


def load_profile(name_or_path: str | os.PathLike[str], overrides: dict[str, Any] | None = None):
    """Load a profile by shipped name or path, apply dotted-key overrides, validate."""
    path = _resolve(name_or_path)
    data = _read_yaml(path)
    profile = _validate(data, str(path))
    if overrides:
        profile = apply_overrides(profile, overrides, source=f"{path} (with overrides)")
    return profile


def apply_overrides(profile, overrides: dict[str, Any], source: str = "overrides"):
    """Return a new profile with dotted keys (``runtime.threads``) set; None values are skipped."""
    data = profile.model_dump(mode="json")
    for key, value in overrides.items():
        if value is None:
            continue
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _validate(data, source)
