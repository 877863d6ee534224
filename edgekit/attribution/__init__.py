"""Where the time goes: per-op times from each runtime's own profiler, mapped back to ONNX
nodes and grouped by attention site, block and op kind (:func:`profile`), and priced against
parity's per-site error (:func:`cost_benefit`)."""

from __future__ import annotations

from .mapper import BOUND, Attribution, Group, attribute
from .run import ProfileReport, from_capture, profile

__all__ = ["BOUND", "Attribution", "Group", "ProfileReport", "attribute", "from_capture",
           "profile"]
