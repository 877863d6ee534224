"""Known-bad environments: a table of package versions, platforms, families and ops that
are publicly reported to break (:mod:`.table`), and the check that runs before a build
(:func:`check_environment`): one warning line per match with its source, a refusal unless
``--allow-known-issue ID``, or a workaround edgekit applies (an opset cap). ``doctor`` lists
what matches this host. The contract layer (bundle, manifest, profiles) does not import it."""

from __future__ import annotations

from .match import (
                    Match,
                    Target,
                    check_allowed,
                    check_bundle,
                    check_environment,
                    matching,
                    opset_cap,
                    package_version,
)
from .table import TABLE, KnownIssue

__all__ = ["TABLE", "KnownIssue", "Match", "Target", "check_allowed", "check_bundle",
           "check_environment",
           "matching", "opset_cap", "package_version"]
