"""Writing a benchmark's results: its JSON document and its markdown table, each under a
temporary name first, so an interrupted run never leaves a half-written file under the
final name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_results(out: Path, name: str, doc: dict[str, Any], lines: list[str]) -> None:
    """``out/name.json`` and ``out/name.md``, then the table on stdout."""
    out.mkdir(parents=True, exist_ok=True)
    for fname, text in ((f"{name}.json", json.dumps(doc, indent=1)),
                        (f"{name}.md", "\n".join(lines) + "\n")):
        part = out / (fname + ".part")
        part.write_text(text)
        part.replace(out / fname)
    print("\n".join(lines))
