"""PyTorch eager as a runtime: the baseline users compare against. Rebuilds the bundle's
model from its recorded source (path or YAML and seed), exactly as the export did."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._lazy import require, version_of
from ..errors import UsageError
from .base import Runner, RunnerSettings
from .plugin import Requirement, RuntimePlugin, register

if TYPE_CHECKING:
    from pathlib import Path

    from ..bundle import Bundle, Manifest


class TorchRunner(Runner):
    name = "torch"

    def __init__(self, manifest: Manifest, *, settings: RunnerSettings | None = None,
                 extra_outputs: list[str] | None = None, trust_checkpoint: bool = False) -> None:
        super().__init__(extra_outputs, settings)
        self.manifest = manifest
        self.trust_checkpoint = trust_checkpoint
        self.model: Any = None

    def _activate(self) -> None:
        torch = require("torch", purpose="the torch backend")
        from ..families import get_format
        from ..models.reference import prepare, recorded_images
        from ..models.source import resolve_source

        m = self.manifest
        src = resolve_source(m.source.spec if m.source.kind == "yaml" else m.source.path,
                             trust=self.trust_checkpoint)
        if self.settings.threads:
            torch.set_num_threads(self.settings.threads)
        example = np.zeros(tuple(d if isinstance(d, int) else 1 for d in m.input.shape),
                           dtype=np.float32)
        prep = prepare(src, imgsz=m.input.imgsz, seed=m.source.seed or 0,
                       end2end=not get_format(m.output.format).needs_nms,
                       dynamic=m.input.dynamic_batch,
                       images=recorded_images(m, src), example=example)
        self.model = prep.model.to("cpu")
        self._torch = torch
        self.input_names = ["images"]
        self.output_names = ["output0"]

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            y = self.model(torch.from_numpy(feed["images"]))
        if isinstance(y, (tuple, list)):
            y = y[0]
        return {"output0": y.float().cpu().numpy()}

    def versions(self) -> dict[str, Any]:
        return {"torch": version_of("torch")}

    def describe(self) -> dict[str, Any]:
        t = self._torch if self.model is not None else None
        return {"device": "cpu", "threads": t.get_num_threads() if t else None,
                "mode": "eager, inference_mode"}


class TorchPlugin(RuntimePlugin):
    """PyTorch eager, for baselines (bench, eval's reference): no profile targets it, and it
    runs no file of the bundle but rebuilds the model from the bundle's recorded source."""

    name = "torch"
    description = "PyTorch eager (CPU), the model rebuilt from the bundle's source"
    requires = (Requirement("torch", "export", "PyTorch"),
                Requirement("ultralytics", "export", "Ultralytics"))
    deployable = False
    runs_source = True

    def runner(self, artifact: Path | None, *, settings: RunnerSettings | None = None,
               extra_outputs: list[str] | None = None, bundle: Bundle | None = None,
               trust_checkpoint: bool = False) -> Runner:
        if bundle is None:
            raise UsageError("the torch backend needs a bundle (it rebuilds the model from it)")
        return TorchRunner(bundle.manifest, settings=settings, extra_outputs=extra_outputs,
                           trust_checkpoint=trust_checkpoint)

    def artifact_of(self, bundle: Bundle) -> Path | None:
        return None  # nothing of the bundle: the recorded source

    def precision_of(self, section: dict[str, Any], profile: Any) -> str:
        return "fp32"


PLUGIN = register(TorchPlugin())
