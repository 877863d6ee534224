"""Where the time goes: per-op times from each runtime's own profiler, mapped back to ONNX
nodes and grouped by attention site, block and op kind (:func:`profile`), and priced against
parity's per-site error (:func:`cost_benefit`)."""

from __future__ import annotations

from .costbenefit import CostBenefit, SiteCost, cost_benefit
from .mapper import BOUND, Attribution, Group, attribute
from .run import ProfileReport, from_capture, profile

__all__ = ["BOUND", "Attribution", "CostBenefit", "Group", "ProfileReport", "SiteCost",
           "attribute", "cost_benefit", "from_capture", "profile"]
