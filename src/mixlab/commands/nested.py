"""`mixlab scaling nested`: nested prediction from the run store (step laws, size laws, a
mixing law, the optimum); registered in the `scaling` group by commands/scaling.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mixlab.commands.common import StoreOpt, TagOpt, output
from mixlab.commands.console import interval_row, table
from mixlab.commands.validate import check_bootstrap, output_file, positive
from mixlab.errors import InputError
from mixlab.laws.core.estimator import DEFAULT_LEVEL


# Over 80 lines for its 20 typer options; the body checks flags, calls nested_from_options,
# writes and prints.
def scaling_nested(
    ctx: typer.Context,
    target_steps: Annotated[float, typer.Option("--target-steps", help="Steps of the target run.")],
    target_size: Annotated[
        float, typer.Option("--target-size", help="Parameters of the target model.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the result (JSON).")],
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", help="Target metric (repeatable; default: the --weights keys)."),
    ] = None,
    weights: Annotated[
        Path | None, typer.Option("--weights", help="JSON {metric: weight}: a weighted target.")
    ] = None,
    law: Annotated[
        str, typer.Option("--law", help="Mixing law kind (auto, exp, implicit, power, ...).")
    ] = "auto",
    law_param: Annotated[
        list[str] | None, typer.Option("--law-param", help="Mixing law KEY=VALUE (repeatable).")
    ] = None,
    size_exponent: Annotated[
        str, typer.Option(help="shared (one exponent for all mixtures) or per-mixture.")
    ] = "shared",
    size_field: Annotated[
        str, typer.Option(help="auto (non-embedding if known), n_params or n_params_nonembed.")
    ] = "auto",
    lr_schedule: Annotated[
        str | None,
        typer.Option(
            help='Schedule of runs that record none, as JSON: {"steps": 30000, "lr": '
            '{"kind": "cosine", "warmup": 0.01, "min_lr_ratio": 0.1}}.'
        ),
    ] = None,
    skip_incomplete: Annotated[
        bool, typer.Option(help="Leave out (with a warning) mixtures with < 3 sizes.")
    ] = True,
    min_step: Annotated[float, typer.Option(help="First step of each curve to use.")] = 0.0,
    min_fraction: Annotated[
        float, typer.Option(help="Skip steps below this fraction of a curve's last step.")
    ] = 0.0,
    measured_at_target: Annotated[
        bool,
        typer.Option(
            help="A run evaluated at --target-steps (its schedule ending there, or none on "
            "record) gives its measured loss; off: the step law's reading for every run."
        ),
    ] = True,
    per_metric: Annotated[
        bool,
        typer.Option(
            help="Weighted target: step and size stages and the mixing law per metric, "
            "summed with the weights (Ye et al.'s multi-domain law; one fit per metric)."
        ),
    ] = False,
    optimize: Annotated[bool, typer.Option(help="Optimise the mixture.")] = True,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap replicates.")] = 0,
    mixture_resampling: Annotated[
        str, typer.Option(help="Mixing-law stage of the bootstrap: residual, cases or none.")
    ] = "residual",
    level: Annotated[float, typer.Option(help="Interval level.")] = DEFAULT_LEVEL,
    seed: Annotated[int, typer.Option("--seed", help="Seed.")] = 0,
    tag: TagOpt = None,
    store: StoreOpt = Path("mixlab.db"),
) -> None:
    """Nested prediction: step laws, then size laws, then a mixing law, then the optimum."""
    from mixlab.io.files import write_json
    from mixlab.studies.nested import nested_from_options

    output_file(out, "--out")
    positive(target_steps, "--target-steps")
    positive(target_size, "--target-size")
    if not 0 < level < 1:
        raise InputError(f"--level must be in (0, 1), not {level:g}")
    check_bootstrap(bootstrap)
    result = nested_from_options(
        store,
        metric or [],
        weights,
        law=law,
        law_params=law_param or [],
        lr_schedule=lr_schedule,
        min_step=min_step,
        min_fraction=min_fraction,
        tag=tag,
        size_field=size_field,
        target_steps=target_steps,
        target_size=target_size,
        size_exponent=size_exponent,
        optimize=optimize,
        n_bootstrap=bootstrap,
        mixture_resampling=mixture_resampling,
        level=level,
        seed=seed,
        skip_incomplete=skip_incomplete,
        per_metric=per_metric,
        measured_at_target=measured_at_target,
    )
    data = result.to_dict()
    write_json(data, out)
    o = output(ctx)
    o.info(
        f"nested prediction over {len(result.mixtures)} mixtures (sizes: "
        f"{result.size_field}; --target-size counts the same) -> {out}"
    )

    def render(con) -> None:
        mix = data["mixtures"]
        extra = [c for c in ("corrected", "low", "high") if c in mix[0]]
        con.print(
            table(
                f"predicted loss at {target_steps:g} steps, {target_size:.4g} params",
                ["mixture", "sizes", "predicted", *extra],
                [[m["mixture"], m["n_sizes"], m["predicted"], *(m[c] for c in extra)] for m in mix],
            )
        )
        opt = data["optimum"]
        if opt:
            rows = list(opt["mixture"].items()) + [("predicted", opt["predicted"])]
            if "corrected" in opt:
                rows.append(("corrected (back-test)", opt["corrected"]))
            if opt.get("interval") is not None:
                rows.append(interval_row(f"{100 * level:g}% interval", opt["interval"]))
            con.print(table("optimum", ["", "value"], rows))

    o.result(data | {"out": str(out)}, render)
