"""Schedule-aware step law on a real mixlab run: train a tiny cosine run on the demo corpora,
cut its curve at 60% of the steps, predict the final loss; against the plain step law.

With `--study F1 F2 ...` it also trains shorter cosine runs of the same model (fractions of
the tokens, each decaying to its own end) and fits them with the cut curve together: one
annealing coefficient C for all runs (`fit_schedule_study`), and one law for all.

`--min-step F` starts every fit at F x the run's steps (default: where the warm-up ends).
With `--out DIR`, runs already finished in DIR/runs.db are reused, not trained again (refit).

Run: .venv/bin/python bench/schedule_law_run.py [--tokens 400000] [--study 0.4 0.7] [--out DIR]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from mixlab.data.demo_corpora import write_demo_corpora  # noqa: E402
from mixlab.data.prepare import prepare  # noqa: E402
from mixlab.laws.core.fitting import FitWarning  # noqa: E402
from mixlab.laws.scaling.forms import StepLaw  # noqa: E402
from mixlab.laws.scaling.schedule import ScheduleStepLaw, fit_schedule_study  # noqa: E402
from mixlab.runs import RunStore  # noqa: E402
from mixlab.train.config import parse_train_config  # noqa: E402
from mixlab.train.loop import train  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=400_000)
    parser.add_argument("--cut", type=float, default=0.6)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--study", type=float, nargs="*", default=[])
    parser.add_argument("--min-step", type=float, default=None)
    args = parser.parse_args()
    print(
        f"schedule_law_run | {platform.node()} | {os.cpu_count()} CPUs | "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        study = []
        with RunStore(root / "runs.db") as store:
            sizes = [args.tokens] + [int(frac * args.tokens) for frac in args.study]
            ids = [f"cosine-{n}" for n in sizes]  # the token count names the run
            if all(i in store and store.get(i).status == "done" for i in ids):
                shards, domains = None, []  # every run is there: refit only
                print(f"   reusing the finished runs in {root / 'runs.db'}")
            else:
                corpora = write_demo_corpora(
                    root / "corpora", max_bytes_per_domain=250_000, vocab_size=1024, seed=0
                )
                prepare(corpora.config, workers=1)
                shards = corpora.config.parent / "shards"
                domains = sorted(p.name for p in (shards / "domains").iterdir())
            record, pts, metric = _train_curve(shards, domains, sizes[0], ids[0], store)
            for n, run_id in zip(sizes[1:], ids[1:], strict=True):
                rec, p, _ = _train_curve(shards, domains, n, run_id, store)
                study.append((rec, p))
        print(
            f"   runs of {record.schedule['steps']} steps"
            + "".join(f", {r.schedule['steps']}" for r, _ in study)
            + f" ({time.perf_counter() - t0:.0f} s with data); target: {metric}"
        )
    S, y = np.array(pts, float).T
    total = int(record.schedule["steps"])
    cut = S <= args.cut * total
    final = y[S == S.max()][0]
    start = args.min_step  # a fraction of each run's steps, or the end of its warm-up
    law = _law(record, start).fit(S[cut], y[cut])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        plain = StepLaw(min_step=law.min_step or law.warmup * total).fit(S[cut], y[cut])
    if start is not None:
        print(f"   every fit starts at {start:g} x the run's steps")
    p_sched, p_plain = law.predict([S.max()])[0], plain.predict([S.max()])[0]
    print(
        f"   curve cut at {args.cut:.0%} ({int(cut.sum())} of {len(S)} evaluations); final "
        f"loss at step {S.max():.0f}: {final:.4f}"
    )
    print(
        f"   schedule-aware law: {p_sched:.4f} (error {p_sched - final:+.4f}, "
        f"{100 * (p_sched / final - 1):+.2f}%); params "
        + ", ".join(f"{k} {v:.4g}" for k, v in law.params_.items())
    )
    print(
        f"   plain step law:     {p_plain:.4f} (error {p_plain - final:+.4f}, "
        f"{100 * (p_plain / final - 1):+.2f}%)"
    )
    if study:
        laws = [law.clone()] + [_law(r, start) for r, _ in study]
        curves = [(S[cut], y[cut])] + [tuple(np.array(p, float).T) for _, p in study]
        for shared in (("C",), ("L0", "A", "alpha", "C")):
            joint = fit_schedule_study(laws, curves, shared=shared)
            p_joint = joint.laws[0].predict([S.max()])[0]
            print(
                f"   joint fit with the {len(study)} shorter runs, shared {'/'.join(shared)}: "
                f"{p_joint:.4f} (error {p_joint - final:+.4f}, "
                f"{100 * (p_joint / final - 1):+.2f}%); C {joint.shared['C']:.4g}"
            )
    return 0


def _law(record, start: float | None) -> ScheduleStepLaw:
    """The schedule-aware law of a run, its fit starting at `start` x its steps if given."""
    law = ScheduleStepLaw.from_record(record.schedule)
    return law if start is None else law.clone(min_step=start * law.total_steps)


def _train_curve(
    shards: Path | None, domains: list[str], tokens: int, run_id: str, store: RunStore
):
    """Train one cosine run (or take it from `store` when it finished there before): its
    record, (step, mean val loss) points and the metric name."""
    if run_id in store and store.get(run_id).status == "done":
        return _curve(store.get(run_id))
    assert shards is not None
    cfg = parse_train_config(
        {
            "data": str(shards),
            "run_id": run_id,
            "model": {"preset": "25k"},
            "mixture": {d: 1 / len(domains) for d in domains},
            "tokens": tokens,
            "seq_len": 64,
            "batch_size": 16,
            "optimizer": {"lr": 0.01},
            "max_epochs": 100,
            "lr_schedule": {"kind": "cosine", "warmup": 0.05, "min_lr_ratio": 0.1},
            "eval": {"every": 10, "max_sequences": 32},
            "seed": 0,
        }
    )
    return _curve(train(cfg, store))


def _curve(record):
    """A run's record, its (step, mean of the val_loss metrics) points and the metric name."""
    metrics = sorted(
        {e.metric for e in record.evaluations if e.step and e.metric.startswith("val_loss/")}
    )
    by_step: dict[int, list[float]] = {}
    for e in record.evaluations:
        if e.step and e.metric in metrics:
            by_step.setdefault(e.step, []).append(e.value)
    metric = "mean of " + ", ".join(metrics)
    pts = sorted((s, float(np.mean(v))) for s, v in by_step.items() if len(v) == len(metrics))
    return record, pts, metric


if __name__ == "__main__":
    sys.exit(main())
