"""The edgekit command line: one module per command, mounted on the root app.

Commands are thin: parse, call the library, render. This package is the only place that
prints or exits.
"""

from __future__ import annotations

import sys

import typer

from ._common import EXIT_INTERRUPTED, state
from .bench import bench
from .doctor import doctor
from .eval import eval_cmd
from .export import export
from .fleet import fleet_app
from .inspect import inspect
from .parity import parity
from .profile import profile
from .profiles import profiles_app
from .report import report
from .tune import tune

app = typer.Typer(
    name="edgekit",
    help="Export, prove and time Ultralytics attention detectors (RT-DETR, YOLO26) on "
    "ONNX Runtime, OpenVINO and TensorRT.\n\nExit codes: 0 ok, 1 gate failed (parity or "
    "latency or accuracy), 2 usage or config error, 3 backend unavailable, 4 integrity error, "
    "70 internal error (a bug), 130 interrupted.\n\nstdout carries data only (--json -); "
    "what torch, Ultralytics, OpenVINO, NNCF and OpenCV print is hidden unless --verbose.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"edgekit {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    verbose: bool = typer.Option(False, "--verbose", help="Show what third-party libraries "
                                 "print (warnings, progress bars), on stderr."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    state.debug = debug
    state.verbose = verbose


app.command(help="Export a model to a verified, self-describing bundle for a target profile.")(export)
app.command(help="Check every attention layer of a bundle on each runtime against PyTorch.")(parity)
app.command(help="List a bundle's attention sites, their kinds and graph tensors.")(inspect)
app.command(help="Show runtimes, CPU/GPU features and which profiles can run here.")(doctor)
app.command(help="Measure latency on the target: percentiles, jitter, model-only and end to "
            "end, conditions recorded; `bench compare A.json B.json` prints one table.")(bench)
app.command("eval", help="mAP of a bundle on a labelled dataset, per backend and class, "
            "through the deployment path, against PyTorch; --max-drop gates it.")(eval_cmd)
app.command(help="Find, per attention site, what INT8 must keep in float to hold parity; "
            "write a tuned profile and bundle.")(tune)
app.command(help="Per-op time from the runtimes' own profilers, by site, block and op kind.")(profile)
app.command(help="Write one self-contained HTML page: bundle, parity, detections, latency, mAP.")(report)
app.add_typer(profiles_app, name="profiles", help="List and show export profiles.")
app.add_typer(fleet_app, name="fleet")


def _terminate(_signum, _frame) -> None:
    # SIGTERM unwinds like Ctrl-C, so a bundle under construction is removed
    raise KeyboardInterrupt


def main() -> None:
    import signal

    from .._lazy import quiet_env

    quiet_env()  # no telemetry threads in edgekit's process (see _lazy.QUIET_ENV)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored
    try:
        app(prog_name="edgekit")
    except KeyboardInterrupt:
        # one that a command's own handling did not see: while parsing, or while exiting
        # (a bundle is already complete or already removed by then)
        sys.stderr.write("edgekit: error: interrupted\n")
        raise SystemExit(EXIT_INTERRUPTED) from None
