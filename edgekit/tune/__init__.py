"""``edgekit tune``: find, per attention site, what must stay in float for INT8 to keep parity.

:mod:`.search` is the search, :mod:`.candidates` builds, judges and times each candidate
through the runtime plug-in's quantizer, :mod:`.result` writes the tuned profile and bundle.
The report is data; the command line renders it (``edgekit/cli/render/tune.py``).
"""

from .candidates import Candidate, Tuner
from .result import tuned_name, write_result
from .search import NEAR_TIE, least_failing, tunable, tune

__all__ = ["NEAR_TIE", "Candidate", "Tuner", "least_failing", "tunable", "tune", "tuned_name",
           "write_result"]
