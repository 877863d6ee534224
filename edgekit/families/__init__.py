"""Model families as specs in one registry: one module per family.

Every module of this package other than :mod:`.base` is a family: it subclasses
:class:`FamilySpec` and registers an instance. Modules are found and imported here, so a
new Ultralytics-style family is one new module (plus its test fixture, see
``tests/test_families.py``). Everything else asks the registry::

    spec = get_family(manifest_family)     # by the name recorded in a bundle
    spec = family_of(model)                # by the model's head
    fmt = get_format("yolo_end2end")       # an output format and its decoder
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import (
    REGISTRY,
    FamilySpec,
    FragileOp,
    OutputFormat,
    Registry,
    block_regex,
    families,
    family_of,
    family_of_yaml,
    get_family,
    get_format,
    is_block_name,
    register,
    site_kinds,
    using,
)

for _m in pkgutil.iter_modules(__path__):
    if _m.name != "base" and not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["REGISTRY", "FamilySpec", "FragileOp", "OutputFormat", "Registry", "block_regex",
           "families", "family_of", "family_of_yaml", "get_family", "get_format",
           "is_block_name", "register", "site_kinds", "using"]
