"""Is the 400k model's late transition in the CPU phase study a learning-rate effect?

Retrains the study's 400k run at r = 0.15 with other learning rates (same data, same seed)
and prints the share of facts learned. Needs `bench/phase_study.py` to have run first.

Run: .venv/bin/python bench/phase_lr_check.py [--study out/phase-cpu] [--lr 0.003 0.02]
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, default=ROOT / "out" / "phase-cpu")
    parser.add_argument("--model", default="400k")
    parser.add_argument("--ratio", type=float, default=0.15)
    parser.add_argument("--lr", type=float, nargs="+", default=[0.003, 0.02])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from mixlab.runs import RunStore
    from mixlab.sweep.execute import run_local
    from mixlab.sweep.plan import load_plan

    runs = load_plan(args.study / "plan.json")
    (base,) = [
        r
        for r in runs
        if r.model.preset == args.model
        and abs(r.mixture.get("biographies", 0.0) - args.ratio) < 1e-9
    ]
    variants = [
        base.model_copy(
            update={
                "optimizer": base.optimizer.model_copy(update={"lr": lr}),
                "tags": ["phase-lr-check"],
                "run_id": None,
            }
        )  # the plan pins ids; a changed config needs its own
        for lr in args.lr
    ]
    store = args.study / "lr-check.db"
    run_local(variants, store, workers=args.workers)
    with RunStore(store) as db:
        for cfg in variants:
            facts = db.get(cfg.id).final_metrics()["probe/facts"]
            print(
                f"{args.model} at r = {args.ratio:g}, lr {cfg.optimizer.lr:g}: {facts:.3f} of facts learned"
            )
    with RunStore(args.study / "runs.db") as db:
        facts = db.get(base.id).final_metrics()["probe/facts"]
        print(
            f"{args.model} at r = {args.ratio:g}, lr {base.optimizer.lr:g} (the study): {facts:.3f}"
        )


if __name__ == "__main__":
    main()
