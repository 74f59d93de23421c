"""Is a phase study exposure-bound? Retrain some of its runs with k times the tokens.

Same data, model, learning rate and seed; only the budget (so the exposures per person)
grows.  Prints the share of facts learned at both budgets.  Needs the study's runs first.

Run: python bench/phase_exposure_check.py --study out/phase-capacity-cpu-reduced \
         --ratio 0.6 --sizes 4144 106816 --factor 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, default=ROOT / "out" / "phase-capacity-cpu-reduced")
    parser.add_argument("--ratio", type=float, default=0.6)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4144, 106816])
    parser.add_argument("--factor", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from mixlab.runs import RunStore
    from mixlab.studies.phase import KNOWLEDGE
    from mixlab.sweep.execute import run_local
    from mixlab.sweep.plan import load_plan

    runs = load_plan(args.study / "plan.json")
    with RunStore(args.study / "runs.db") as db:
        base = {
            r.id: db.get(r.id) for r in runs if abs(r.mixture.get(KNOWLEDGE, 0) - args.ratio) < 1e-9
        }
        picked = [r for r in runs if r.id in base and base[r.id].n_params_nonembed in args.sizes]
        before = {r.id: base[r.id].final_metrics()["probe/facts"] for r in picked}
    longer = [
        r.model_copy(
            update={
                "tokens": int(r.tokens * args.factor),
                "run_id": None,
                "tags": ["exposure-check"],
            }
        )
        for r in picked
    ]
    store = args.study / "exposure-check.db"
    run_local(longer, store, workers=args.workers)
    with RunStore(store) as db:
        for r, cfg in zip(picked, longer, strict=True):
            rec = db.get(cfg.id)
            print(
                f"N = {rec.n_params_nonembed:>7} r = {args.ratio:g}: {before[r.id]:.3f} of facts "
                f"at {r.tokens:,} tokens, {rec.final_metrics()['probe/facts']:.3f} at {cfg.tokens:,}"
            )


if __name__ == "__main__":
    main()
