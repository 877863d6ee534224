"""edgekit fleet: the model x profile x device matrix on a Ray cluster (or as GitHub Actions
jobs), one merged report.

A cell is one function, :func:`run_cell`: a bundle's jobs on this machine -> a result
document. `edgekit fleet cell` runs it in a shell, a Ray task wraps it with the device's
label selector and one ``edgekit-device`` resource (:func:`run_matrix`), and a GitHub job
calls the shell form. Placement, retries and node loss are Ray's; this package builds the
matrix, submits, and merges documents. Ray is imported only when a fleet runs."""

from __future__ import annotations

from .cell import run_cell
from .engine import run_matrix, run_shell_cell
from .matrix import Cell, Matrix, github_matrix, load_matrix
from .report import build_report, markdown
from .results import load_cells, merge

__all__ = ["Cell", "Matrix", "build_report", "github_matrix", "load_cells", "load_matrix",
           "markdown", "merge", "run_cell", "run_matrix", "run_shell_cell"]
