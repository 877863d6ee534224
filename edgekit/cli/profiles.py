from __future__ import annotations

from typing import Annotated

import typer

from ._common import echo_data, handle_errors, out_console

profiles_app = typer.Typer(no_args_is_help=True)


@profiles_app.command("list", help="List the shipped profiles (and $EDGEKIT_PROFILES).")
@handle_errors
def list_cmd() -> None:
    from ..profiles import list_profiles, load_profile
    from .render.table import new_table

    t = new_table(None, ("name", "runtimes", "precision", "imgsz", "batch", "description"),
                  left=("name", "runtimes", "precision", "description"))
    for name, path in list_profiles().items():
        p = load_profile(path)
        b = p.batch
        batch = f"{b.min}..{b.max}" if b.dynamic else str(b.size)
        t.add_row(name, ", ".join(p.runtimes), p.precision.value, str(p.imgsz),
                  batch, p.description.split(". ")[0])
    out_console().print(t)


@profiles_app.command("show", help="Show a resolved profile (name or path) as YAML.")
@handle_errors
def show_cmd(name: Annotated[str, typer.Argument(help="Profile name or YAML path.")]) -> None:
    import yaml

    from ..profiles import load_profile

    p = load_profile(name)
    echo_data(yaml.safe_dump(p.model_dump(mode="json"), sort_keys=False))
