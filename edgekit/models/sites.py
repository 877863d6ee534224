"""Attention sites: where they are in the PyTorch model, their kind, and exact taps.

A site is a module whose output we compare across runtimes. Sites are found by class (the
family's ``site_classes``, see :mod:`edgekit.families`),
outermost first (the MultiheadAttention inside an AIFI layer belongs to the AIFI site),
and ordered by execution, found with forward hooks on a real forward pass.

Taps: :class:`TapProbe` wraps the model so that its forward returns
``(final output, *site outputs)``. Exported with output names ``tap::<module path>``,
the tracer ties each name to exactly the tensor the hook saw: no guessing at the
exporter's irregular scope strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..families import family_of

TAP_PREFIX = "tap::"
BOUNDARY_PREFIX = "bnd::"



@dataclass(frozen=True)
class Site:
    name: str  # module path, e.g. "model.10.m.0.attn"
    kind: str  # the family's site_classes kind, or "queries" for the decoder's query input
    cls: str  # the module's class name
    port: str = "out"  # "out": the module's output; "in": its first input
    n_inputs: int = 0  # tensor inputs seen on a real forward (boundary taps, for regions)

    @property
    def tap(self) -> str:
        return TAP_PREFIX + self.name + (":in" if self.port == "in" else "")

    def boundary(self, i: int) -> str:
        """Name of the tap on the site's i-th tensor input (to delimit its subgraph)."""
        return f"{BOUNDARY_PREFIX}{self.name}:{i}"

    @property
    def is_attention(self) -> bool:
        return self.kind != "queries"


def query_site(model: Any, module_class: str | None = None) -> Site | None:
    """The decoder's query embeddings (RT-DETR: the top-k selected encoder features), the
    first input of the family's ``query_module`` (``module_class``; None: the model's
    family's).

    Runtimes may order near-equal top-k scores differently; the decoder then sees the
    same queries in another order. Matching rows of this tensor gives the permutation
    that aligns every per-query tap, so a reorder is not mistaken for an error.
    """
    if module_class is None:
        module_class = family_of(model).query_module
    if module_class is None:
        return None
    for name, module in model.named_modules():
        if type(module).__name__ == module_class:
            return Site(name, "queries", type(module).__name__, port="in")
    return None


def _kind_of(module: Any, classes: dict[str, str]) -> tuple[str, str] | None:
    for klass in type(module).__mro__:
        kind = classes.get(klass.__name__)
        if kind:
            return kind, type(module).__name__
    return None


def find_sites(model: Any, classes: dict[str, str] | None = None) -> list[Site]:
    """Every attention site, outermost first, in module-definition order. ``classes``: class
    name -> site kind (None: the site classes of the model's family)."""
    if classes is None:
        classes = family_of(model).site_classes
    sites: list[Site] = []
    for name, module in model.named_modules():
        hit = _kind_of(module, classes)
        if hit is None or any(name.startswith(s.name + ".") for s in sites):
            continue
        sites.append(Site(name, hit[0], hit[1]))
    return sites


def _first_tensor(out: Any) -> Any:
    """The site's output tensor: MultiheadAttention returns (output, weights)."""
    if isinstance(out, (tuple, list)):
        return out[0]
    return out


def _tensor_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    import torch

    vals = list(args) + [v for v in kwargs.values()]
    return [v for v in vals if isinstance(v, torch.Tensor)]


def _hook(module: Any, site: Site, fn: Any) -> Any:
    """Register ``fn(tensor)`` on a site's output (forward hook) or first input (pre-hook)."""
    if site.port == "in":
        return module.register_forward_pre_hook(lambda _m, args: fn(args[0]))
    return module.register_forward_hook(lambda _m, _i, out: fn(_first_tensor(out)))


def order_by_execution(model: Any, sites: list[Site], example: Any) -> list[Site]:
    """Sites sorted by when they first run on ``example``; sites that never run are dropped."""
    from dataclasses import replace

    import torch

    order: dict[str, int] = {}
    n_in: dict[str, int] = {}
    handles = []
    for s in sites:

        def record(_t, key=s.tap):
            order.setdefault(key, len(order))

        def count(_m, args, kwargs, key=s.tap):
            n_in.setdefault(key, len(_tensor_args(args, kwargs)))

        mod = model.get_submodule(s.name)
        handles.append(_hook(mod, s, record))
        if s.is_attention:
            handles.append(mod.register_forward_pre_hook(count, with_kwargs=True))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in handles:
            h.remove()
    ran = sorted((s for s in sites if s.tap in order), key=lambda s: order[s.tap])
    return [replace(s, n_inputs=n_in.get(s.tap, 0)) for s in ran]


def probe_output_names(sites: list[Site]) -> list[str]:
    """Probe outputs after ``output0``: every site's tap, then every boundary tap."""
    return [s.tap for s in sites] + [s.boundary(i) for s in sites for i in range(s.n_inputs)]


def make_probe(model: Any, sites: list[Site]):
    """A module whose forward returns (final output, *site outputs), for export and reference."""
    import torch

    class TapProbe(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.sites = list(sites)

        def forward(self, x):  # noqa: D401
            seen: dict[str, Any] = {}
            handles = []
            for s in self.sites:

                def keep(t, key=s.tap):
                    seen.setdefault(key, t)

                def keep_in(_m, args, kwargs, s=s):
                    for i, t in enumerate(_tensor_args(args, kwargs)[: s.n_inputs]):
                        seen.setdefault(s.boundary(i), t)

                mod = self.model.get_submodule(s.name)
                handles.append(_hook(mod, s, keep))
                if s.n_inputs:
                    handles.append(mod.register_forward_pre_hook(keep_in, with_kwargs=True))
            try:
                y = self.model(x)
            finally:
                for h in handles:
                    h.remove()
            if isinstance(y, (tuple, list)):
                y = y[0]
            return (y, *[seen[n] for n in probe_output_names(self.sites)])

    probe = TapProbe()
    # torch.onnx.export restores the wrapper's training flag on the whole model afterwards:
    # a wrapper left in training mode would silently switch the detector to training mode.
    probe.eval()
    return probe
