from __future__ import annotations

from typing import Annotated

import typer

from ._common import backends_help, check_imgsz, err_console, handle_errors, write_reports


@handle_errors
def profile(
    target: Annotated[str, typer.Argument(help="A bundle directory, or a bare model file "
                                          "(.onnx, OpenVINO .xml).")],
    backend: Annotated[str | None, typer.Option(help=backends_help("default: the target's"))] = None,
    iters: Annotated[int, typer.Option(min=1, help="Profiled iterations (each interleaved "
                                       "with an unprofiled one).")] = 50,
    warmup: Annotated[int, typer.Option(min=0)] = 5,
    threads: Annotated[int | None, typer.Option(min=1, help="Runtime threads.")] = None,
    imgsz: Annotated[int | None, typer.Option(help="Input size for a bare model file whose "
                                              "input has dynamic sizes.")] = None,
    top: Annotated[int, typer.Option(min=0, help="Show the N slowest ops.")] = 10,
    json_out: Annotated[str | None, typer.Option("--json", help="Write JSON ('-' = stdout, "
                                                 "data only).")] = None,
    plot: Annotated[str | None, typer.Option(help="Write a PNG: time by kind and by site.")] = None,
    against: Annotated[str | None, typer.Option("--float", help="A float bundle of the same "
                                                "model: also print, per attention site, its ms "
                                                "in float and in TARGET (INT8), parity's error "
                                                "and the float island's border cost.")] = None,
) -> None:
    """Per-op time from each runtime's own profiler, by attention site, block and op kind."""
    from .._paths import check_writable_file
    from ..attribution import profile as run_profile
    from ..attribution.report import markdown
    from ..attribution.report import plot as draw
    from ._common import backend_list, log
    from .render.profile import render_profile

    check_imgsz(imgsz)
    check_writable_file(json_out, "--json")
    check_writable_file(plot, "--plot")
    if against is not None:  # a bad --float bundle is refused before any profiling
        from ..bundle import load_bundle

        load_bundle(against)
    report = run_profile(target, backend_list(backend), iters=iters, warmup=warmup,
                         threads=threads, imgsz=imgsz)
    for note in report.notes:
        log(f"note: {note}")
    data = report.to_json()
    render_profile(data, err_console(), top=top)
    if against is not None:
        from ..attribution.run import price

        backend_name = next(iter(report.results))
        cb = price(target, against, backend_name, iters=iters, warmup=warmup, threads=threads,
                   int8=report.results[backend_name])
        data["cost_benefit"] = cb.to_json()
        err_console().print(f"cost/benefit per site ({backend_name}; noise "
                            f"{cb.noise_ms:.3f} ms)\n" + cb.markdown(), markup=False)
    write_reports(data, json_out, markdown=markdown, files=(("--plot", plot, draw),))
