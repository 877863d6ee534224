"""`edgekit fleet`: join a device, run a matrix on Ray (or emit it for GitHub Actions), run
one cell, merge the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ._common import echo_data, err_console, handle_errors, out_console, write_reports

fleet_app = typer.Typer(no_args_is_help=True, help="Run the model x profile x device matrix "
                        "on a Ray cluster or as GitHub Actions jobs; one merged report.")

Labels = Annotated[list[str] | None, typer.Option(
    "--label", help="An extra label key=value (repeatable); wins over the doctor labels.")]
MatrixArg = Annotated[Path, typer.Argument(help="The matrix file (YAML): models, profiles, "
                                           "imgsz, devices, jobs.")]
Out = Annotated[Path, typer.Option(help="Where cell documents, logs and fleet.json go.")]


def job_flags() -> dict[str, set[str]]:
    """Each job kind -> the flags its edgekit command accepts (the matrix's job options are
    checked against them before anything runs)."""
    import typer.main

    from .bench import bench
    from .eval import eval_cmd
    from .parity import parity

    out = {}
    for kind, fn in (("parity", parity), ("eval", eval_cmd), ("bench", bench)):
        app = typer.Typer()
        app.command()(fn)
        cmd = typer.main.get_command(app)
        out[kind] = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")}
    out["sleep"] = {"--seconds", "--exit"}
    return out


def load_checked(path: Path):
    """The matrix, its job options checked against the commands' own flags."""
    from ..errors import UsageError
    from ..fleet.matrix import load_matrix

    matrix = load_matrix(path)
    known = job_flags()
    for kind, opts in matrix.cells[0].jobs.items():
        for key, value in opts.items():
            flag = "--" + ("no-" if value is False else "") + str(key).replace("_", "-")
            if flag == "--json" or flag not in known[kind]:
                why = " (the fleet sets --json)" if flag == "--json" else ""
                raise UsageError(f"matrix {path}: job {kind}: {key!r} is not an option of "
                                 f"`edgekit {kind}`{why}")
    return matrix


@fleet_app.command(help="Print this device's labels and the `ray start` line that joins it.")
@handle_errors
def labels(
    address: Annotated[str, typer.Option(help="The head's HOST:PORT in the printed line.")] = "HEAD:6379",
    label: Labels = None,
    as_json: Annotated[bool, typer.Option("--json", help="The labels as JSON on stdout.")] = False,
) -> None:
    from ..fleet.where import host_labels, parse_labels, ray_start_command, shell_line

    found = host_labels(parse_labels(label or []))
    if as_json:
        echo_data(json.dumps(found, indent=2))
        return
    echo_data(shell_line(ray_start_command(address, found)))


@fleet_app.command(help="Join this device to the fleet at ADDRESS: a Ray worker node with the "
                   "doctor labels and one edgekit-device resource.")
@handle_errors
def join(
    address: Annotated[str, typer.Argument(help="The Ray head, HOST:PORT.")],
    label: Labels = None,
    object_store_memory: Annotated[int | None, typer.Option(help="Bytes of object store.")] = None,
    block: Annotated[bool, typer.Option("--block", help="Stay in the foreground.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the command, run nothing.")] = False,
) -> None:
    import os
    import subprocess

    from ..fleet.engine import check_address, import_ray, is_local
    from ..fleet.where import host_labels, parse_labels, ray_start_command, shell_line

    cmd = ray_start_command(address, host_labels(parse_labels(label or [])),
                            object_store_memory=object_store_memory, block=block)
    if dry_run:
        echo_data(shell_line(cmd))
        return
    import_ray(address)
    check_address(address)
    env = dict(os.environ)
    if is_local(address):
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    raise typer.Exit(subprocess.run(cmd, env=env).returncode)


@fleet_app.command(help="Run a matrix on the Ray cluster at --address (default: a one-device "
                   "fleet of this machine). Exit 0 when every cell is ok, 1 otherwise, 130 "
                   "on Ctrl-C (finished cells kept).")
@handle_errors
def run(
    matrix: MatrixArg,
    address: Annotated[str | None, typer.Option(help="The Ray head HOST:PORT, or 'local'.")] = None,
    out: Out = Path("fleet-results"),
    device_timeout: Annotated[float, typer.Option(min=0, help="Seconds a cell may wait with no "
                                                  "node matching its device: then 'no device'.")] = 300.0,
    shared: Annotated[Path | None, typer.Option(help="A folder every node mounts at the same path: "
                                                "bundles go there instead of through the object "
                                                "store (needed beyond 256 MiB).")] = None,
    json_out: Annotated[str | None, typer.Option("--json", help="Also write the report JSON.")] = None,
    object_store_memory: Annotated[int | None, typer.Option(
        min=78643200, help="Without --address: bytes of object store for the local fleet "
        "(default: Ray's, 30% of memory).")] = None,
) -> None:
    from ..fleet import build_report, markdown, run_matrix
    from .render.fleet import Progress, render_fleet

    m = load_checked(matrix)
    fleet = run_matrix(m, out, address=address, device_timeout=device_timeout, shared=shared,
                       object_store_memory=object_store_memory, on_progress=Progress(err_console()))
    rep = build_report(fleet)
    render_fleet(out_console(), rep)
    write_reports(rep, json_out, markdown=markdown)
    raise typer.Exit(0 if rep["passed"] else 1)


@fleet_app.command(help="Merge cell documents under DIR (a `fleet run --out`, or downloaded "
                   "GitHub artifacts) into one table; exit 1 unless every cell is ok.")
@handle_errors
def report(
    folder: Annotated[Path, typer.Argument(help="Folder of fleet results.")],
    baseline: Annotated[Path | None, typer.Option(help="An earlier results folder.")] = None,
    json_out: Annotated[str | None, typer.Option("--json", help="Report JSON ('-' for stdout).")] = None,
    md: Annotated[Path | None, typer.Option("--markdown", help="Write the markdown table here.")] = None,
) -> None:
    from ..errors import UsageError
    from ..fleet import build_report, load_cells, markdown, merge
    from .render.fleet import render_fleet

    def fleet_of(p: Path):
        docs = load_cells(p)
        if not docs:
            raise UsageError(f"{p}: no fleet cell documents found")
        return merge(docs, source=str(p))

    def write_md(r, p: str) -> None:
        Path(p).write_text(markdown(r))

    rep = build_report(fleet_of(folder), fleet_of(baseline) if baseline else None)
    if json_out != "-":
        render_fleet(out_console(), rep)
    write_reports(rep, json_out, markdown=markdown,
                  files=(("--markdown", str(md) if md else None,
                          write_md),))
    raise typer.Exit(0 if rep["passed"] else 1)


@fleet_app.command(help="List a matrix's cells, or (--github) emit it as a GitHub Actions "
                   "matrix, one job per cell (at most 256).")
@handle_errors
def matrix(
    matrix: MatrixArg,
    github: Annotated[bool, typer.Option("--github", help="JSON for strategy.matrix.")] = False,
    runner_label: Annotated[list[str] | None, typer.Option(
        help="Runner labels every job needs (default: self-hosted).")] = None,
) -> None:
    from ..fleet import github_matrix
    from .render.table import new_table

    m = load_checked(matrix)
    if github:
        echo_data(json.dumps(github_matrix(m, tuple(runner_label or ["self-hosted"]))))
        return
    t = new_table(None, ("cell", "device", "selector"), left=("cell", "device", "selector"))
    for c in m.cells:
        t.add_row(c.id, c.device, ", ".join(f"{k}={v}" for k, v in c.selector.items()))
    out_console().print(t)


@fleet_app.command(help="Run one cell here (the form a GitHub job runs): export it (or use "
                   "--bundle), run its jobs, write its document under --out. Exit 0 ok, 1 "
                   "otherwise.")
@handle_errors
def cell(
    matrix: MatrixArg,
    cell_id: Annotated[str, typer.Option("--cell", help="The cell's id (`fleet matrix`).")],
    bundle: Annotated[Path | None, typer.Option(help="A bundle exported elsewhere.")] = None,
    out: Out = Path("fleet-results"),
) -> None:
    from rich.markup import escape

    from ..fleet import run_shell_cell

    m = load_checked(matrix)
    doc = run_shell_cell(m, cell_id, out, bundle)
    err_console().print(f"{escape(cell_id)}: {doc['state']}" +
                        (f": {escape(doc['error'])}" if doc.get("error") else ""), soft_wrap=True)
    raise typer.Exit(0 if doc["state"] == "ok" else 1)
