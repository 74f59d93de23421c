"""The `mixlab` command line: parse, validate, call one function of a layer below, print.

Exit codes: 0 success; 2 bad input (a message naming the file, row or field, no traceback);
1 anything else (the traceback only under --debug).
"""

from __future__ import annotations

import os

# scipy's fits make many tiny BLAS calls that threads only slow down (8-50x on a busy
# 2-core machine); set before numpy loads. A user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys
import traceback
from typing import Annotated

import typer
from typer.exceptions import TyperException

from mixlab import __version__
from mixlab.commands import (
    data,
    demo,
    dynamics,
    export,
    law,
    law_schedule,
    phase,
    project,
    report,
    runs,
    scaling,
    sweep,
    train,
)
from mixlab.commands.console import Output
from mixlab.errors import InputError

GLOBAL_FLAGS = ("--json", "--quiet", "--debug")

app = typer.Typer(
    name="mixlab",
    help="Predict what a pretraining run will do from cheap proxy runs, and choose its data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(runs.app, name="runs")
app.add_typer(data.app, name="data")
app.add_typer(sweep.app, name="sweep")
law.app.command("schedule")(law_schedule.schedule_command)
app.add_typer(law.app, name="law")
app.add_typer(scaling.app, name="scaling")
app.add_typer(phase.app, name="phase")
app.add_typer(dynamics.app, name="dynamics")
app.command("train")(train.train_command)
app.command("report")(report.report_command)
app.command("demo")(demo.demo_command)
app.command("export")(export.export_command)
app.command("init")(project.init_command)
app.command("run")(project.run_command)


def _print_version(value: bool) -> None:
    if value:
        print(f"mixlab {__version__}")
        raise typer.Exit(0)


@app.callback()
def _global(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Only results, no messages.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Flags here may also be given after the subcommand (`mixlab runs list --json`)."""
    ctx.obj = Output(json=json_, quiet=quiet)


# -- entry point ------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Run the CLI on `argv` and return the exit code (0 ok, 2 bad input, 1 otherwise)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    flags = [a for a in argv if a in GLOBAL_FLAGS]
    rest = [a for a in argv if a not in GLOBAL_FLAGS]
    argv = flags + rest
    debug = "--debug" in flags
    err = Output().err
    try:
        result = app(args=argv, prog_name="mixlab", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except InputError as e:
        if debug:
            traceback.print_exc()
        Output().error(str(e))
        return 2
    except typer.Exit as e:
        return e.exit_code
    except TyperException as e:  # usage errors: unknown command, bad option value, ...
        e.show()
        return getattr(e, "exit_code", 2)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        return 130
    except Exception as e:  # noqa: BLE001 - the last line of defence: exit 1, quietly
        if debug:
            traceback.print_exc()
        else:
            lines = str(e).strip().splitlines() or [""]
            more = " ..." if len(lines) > 1 else ""
            Output().error(
                f"{type(e).__name__}: {lines[0]}{more} (run with --debug for the traceback)"
            )
        return 1


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
