"""Shared CLI plumbing: error handling, consoles, state."""

from __future__ import annotations

import contextlib
import functools
import traceback
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

import typer

from ..errors import EdgekitError
from ._logging import library_messages
from ._streams import data_out, messages_out, third_party_output

EXIT_INTERNAL = 70  # an unexpected error: a bug in edgekit
EXIT_INTERRUPTED = 130


#: ``--trust-checkpoint``, shared by every command that may open a checkpoint
TrustCheckpoint = Annotated[bool, typer.Option(
    "--trust-checkpoint", help="Unpickle the checkpoint in full, running any code it holds. Only "
    "for a file you trust: by default a checkpoint is read weights-only, and one that names "
    "anything but Ultralytics model classes is refused (exit 4).")]
AllowKnownIssue = Annotated[list[str] | None, typer.Option(
    "--allow-known-issue", metavar="ID", help="Build although known issue ID (edgekit doctor "
    "--known-issues) would refuse it; repeatable.")]
# the reduced-precision verdict's thresholds, as parity and tune take them
MinCosine = Annotated[float | None, typer.Option(help="Override min cosine for every site.")]
MaxRelL2 = Annotated[float | None, typer.Option(help="Override max relative L2.")]
Verdict = Annotated[str | None, typer.Option(
    help="Override how sites pass: per_image (every sample within the criteria above; "
         "fp32's default) or median (median SQNR and error over the residual stream, "
         "agreement mAP on output0; INT8 and fp16's default).")]
MinMedianSqnr = Annotated[float | None, typer.Option(
    help="median verdict: override the least median site SQNR (dB).")]
MaxMedianStreamRel = Annotated[float | None, typer.Option(
    help="median verdict: override the largest median site error relative to the "
         "residual stream.")]
MaxAgreementDrop = Annotated[float | None, typer.Option(
    help="median verdict: override the largest agreement mAP50-95 drop on output0 "
         "(points).")]


class _State:
    debug = False
    verbose = False


state = _State()
F = TypeVar("F", bound=Callable[..., Any])


def _console(file):
    from rich.console import Console

    # in a pipe or a CI log: $COLUMNS, else 80; tables are laid out to stay readable there
    return Console(file=file, highlight=False)


def err_console():
    """edgekit's messages: the real stderr, whatever third-party code did with fd 2."""
    return _console(messages_out())


def out_console():
    """Tables a command prints as its result: the real stdout."""
    from rich.console import Console

    return Console(file=data_out())


def echo_data(text: str) -> None:
    """Data (JSON, YAML) on the real stdout."""
    import typer

    typer.echo(text, file=data_out())


def fail(message: str, code: int) -> typer.Exit:
    from rich.markup import escape

    err_console().print(f"[red]edgekit: error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


def handle_errors(fn: F) -> F:
    """Turn library errors into one line on stderr and a documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with third_party_output(state.verbose), library_messages():
            try:
                return fn(*args, **kwargs)
            except typer.Exit:
                raise
            except EdgekitError as exc:
                if state.debug:
                    traceback.print_exc(file=messages_out())
                raise fail(str(exc), exc.exit_code) from None
            except KeyboardInterrupt:
                raise fail("interrupted; nothing was left under the final name",
                           EXIT_INTERRUPTED) from None
            except Exception as exc:  # a bug, or an unexpected library failure
                if state.debug:
                    traceback.print_exc(file=messages_out())
                msg = str(exc).splitlines()[0][:300] if str(exc) else ""
                raise fail(f"unexpected {type(exc).__name__}: {msg} (run with --debug for a "
                           "traceback)", EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def writing(what: str, path: str) -> Iterator[None]:
    """A report that cannot be written after all (removed, full disk) is a usage error."""
    from ..errors import UsageError

    try:
        yield
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot write it ({exc.strerror or exc})") from exc


def write_json_report(report: dict[str, Any], path: str) -> None:
    """--json: '-' is the real stdout, which carries nothing else; a file is replaced whole."""
    from ..parity.report import report_json, write_json

    with writing("--json", path):
        if path == "-":
            out = data_out()
            out.write(report_json(report))
            out.flush()
        else:
            write_json(report, path)


def check_imgsz(imgsz: int | None) -> None:
    """--imgsz, checked before anything is loaded (the profile schema applies the same rule)."""
    if imgsz is None:
        return
    from ..errors import UsageError
    from ..profiles.schema import imgsz_error

    why = imgsz_error(imgsz)
    if why:
        raise UsageError(f"--imgsz {imgsz}: {why}")


def write_reports(report: dict[str, Any], json_out: str | None, *,
                  markdown: Callable[[dict[str, Any]], str],
                  files: tuple[tuple[str, str | None, Callable[[dict[str, Any], str], None]],
                               ...] = ()) -> None:
    """The report files a gating command writes: --json, each ``(option, path, writer)`` of
    ``files`` that was asked for (--junit, --plot), and the GitHub step summary, an optional
    report whose failure is a warning and never changes the gate."""
    from rich.markup import escape

    from ..parity.report import append_step_summary

    if json_out:
        write_json_report(report, json_out)
    for option, path, writer in files:
        if path:
            with writing(option, path):
                writer(report, path)
    warning = append_step_summary(markdown(report))
    if warning:
        log(f"[yellow]warning:[/] {escape(warning)}")


def log(message: str) -> None:
    err_console().print(message, soft_wrap=True)



def backend_list(option: str | None, *, deployable: bool = False,
                 check: bool = True) -> list[str] | None:
    """``--backend a,b``: registered runtime names (``deployable``: those a profile may
    target, not torch), each installed (exit 3 otherwise, naming the extra); None when
    not given."""
    if not option:
        return None
    from ..errors import UsageError
    from ..runtimes import check_installed, runtime_names

    known = runtime_names(deployable=True if deployable else None)
    names = [b.strip() for b in option.split(",") if b.strip()]
    for b in names:
        if b not in known:
            raise UsageError(f"--backend {b}: choose from {', '.join(known)}")
        if check:
            check_installed(b)
    return names


def backends_help(what: str, *, deployable: bool = False) -> str:
    """The help of a --backend option, naming the registered runtimes."""
    from ..runtimes import runtime_names

    return f"Comma-separated: {', '.join(runtime_names(deployable=deployable or None))} ({what})."
