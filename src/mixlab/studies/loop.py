"""`mixlab run PROJECT.yaml`: the whole loop of DESIGN.md section 1 on a user's own data.

prepare -> round 1 (a Dirichlet design around the natural shares) -> fit `auto` -> further
rounds placed by expected improvement (laws/mixing/acquisition.py) -> recommend (the
constrained optimum) -> verify (recommended and reference mixtures, >= 2 seeds each, at the
proxy budget) -> exports -> decision.json -> the report.

Resumable from the store: run ids are hashes of the run configs; each round's plan (and the
recommendation, and the verification plan) is written atomically to `<output>/loop/` before
any of its runs trains and read back on a re-run, so a run killed at any point is re-run with
the same plans; runs already done in the store are skipped (sweep/execute.py).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from mixlab.errors import InputError
from mixlab.io.files import read_json, write_json, write_yaml
from mixlab.laws.mixing.design import round_mixtures
from mixlab.runs import RunStore
from mixlab.studies.loop_exports import ProductionExports
from mixlab.studies.project import Project
from mixlab.sweep.plan import SweepConfig, expand_run, load_plan, make_plan, save_plan
from mixlab.train.config import TrainConfig

Emit = Callable[[dict[str, Any]], None]


def _quiet(event: dict[str, Any]) -> None:
    pass


class Loop(ProductionExports):
    """The stages of one project, each resumable; `run()` does them all in order."""

    def __init__(self, project: Project, emit: Emit = _quiet, commands: list[str] | None = None):
        self.project = project
        self.c = project.config
        self.out = project.out
        self.state = self.out / "loop"
        self.emit = emit
        self.commands = commands or []
        self.started = time.perf_counter()
        self.target = _normalised(self.c.target.resolved_weights())

    # -- helpers --------------------------------------------------------------------------
    @contextmanager
    def warnings_as_events(self) -> Iterator[None]:
        """FitWarnings and other warnings of a stage become `warning` events, said once."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        for message in dict.fromkeys(str(w.message) for w in caught):
            self.emit({"event": "warning", "message": message})

    def say(self, stage: str, message: str, **fields: Any) -> None:
        self.emit(
            {
                "event": "stage",
                "stage": stage,
                "message": message,
                "elapsed_s": round(time.perf_counter() - self.started, 1),
                **fields,
            }
        )

    def _train(self, runs: list[TrainConfig], label: str) -> None:
        from mixlab.sweep.execute import run_local

        t0 = time.perf_counter()

        def update(s) -> None:
            self.emit(
                {
                    "event": "progress",
                    "stage": label,
                    "done": s.done + s.skipped + s.elsewhere,
                    "skipped": s.skipped,
                    "failed": s.failed,
                    "running": s.running,
                    "total": s.total,
                    "elapsed_s": round(time.perf_counter() - t0, 1),
                    "eta_s": None if s.eta_seconds is None else round(s.eta_seconds, 1),
                }
            )

        status = run_local(runs, self.project.store, workers=self.c.proxy.workers, on_update=update)
        if status.failed:
            raise RuntimeError(f"{status.failed} runs of {label} failed: {status.errors}")

    def _plan(self, name: str, build: Callable[[], list[TrainConfig]]) -> list[TrainConfig]:
        """The plan saved under loop/NAME.json, or a new one built and saved before training."""
        path = self.state / f"{name}.json"
        if path.exists():
            return load_plan(path)
        runs = build()
        save_plan(runs, path)
        return runs

    def _run(self, mixture: dict[str, float], seed: int, tags: list[str]) -> TrainConfig:
        return expand_run(
            self.project.train_base(),
            {d: w for d, w in mixture.items() if w > 0},
            self.c.proxy.models[0],
            self.c.proxy.tokens,
            seed,
            [self.c.name, *tags],
            f"{self.project.path or 'project'}",
            self.out,
        )

    def observed(self, ids: list[str]) -> pd.Series:
        """The target (weighted metrics) of finished runs, by run id."""
        with RunStore(self.project.store) as store:
            Y = store.metrics(ids)
        missing = [m for m in self.target if m not in Y.columns]
        if missing:
            raise InputError(f"target: the runs record no metric {missing[0]!r}")
        return Y[list(self.target)] @ pd.Series(self.target)

    def check_unchanged(self) -> None:
        """Refuse to resume with a project whose runs would differ from the saved plans'."""
        settings = self.c.model_dump(
            mode="json", exclude={"production", "name", "level", "strategies"}
        )  # each strategy checks its own settings (studies/strategies.py): one can be added
        settings["proxy"].pop("workers", None)
        self.state.mkdir(parents=True, exist_ok=True)
        path = self.state / "settings.json"
        if not path.exists():
            write_json(settings, path)
            return
        saved = read_json(path)
        changed = sorted(k for k in settings if settings[k] != saved.get(k))
        if changed:
            raise InputError(
                f"{self.project.path or 'project'}: {', '.join(changed)} changed since the "
                f"plans in {self.state} were made; restore them, or move {self.out} away to "
                "start a new loop (its runs stay in its store)"
            )

    # -- stages ---------------------------------------------------------------------------
    def prepare(self) -> None:
        from mixlab.data.config import load_prepare_config
        from mixlab.data.prepare import prepare

        self.out.mkdir(parents=True, exist_ok=True)
        self.state.mkdir(exist_ok=True)
        self.check_unchanged()
        path = write_yaml(self.project.prepare_config(), self.state / "prepare.yaml")
        self.say("prepare", f"token shards in {self.project.shards}")
        summary = prepare(load_prepare_config(path), workers=self.c.proxy.workers)
        for w in summary.warnings:
            self.emit({"event": "warning", "message": w})

    def round1(self) -> list[TrainConfig]:
        def build() -> list[TrainConfig]:
            return make_plan(self.design(), self.out, str(self.project.path or "project"))

        runs = self._plan("round1", build)
        self.say(
            "round 1",
            f"{len(runs)} runs: a Dirichlet design around the natural shares, inside the "
            "constraints",
        )
        self._train(runs, "round 1")
        return runs

    def design(self) -> SweepConfig:
        """Round 1: the sweep config's Dirichlet design (natural shares first), each mixture
        projected onto the constraints.  Runs outside them (a domain near 0) only teach the
        law a corner the recommendation may not use, and their blow-up losses are what
        the laws fit worst (the old full demo's lesson)."""
        from mixlab.laws.mixing.optimize import project_to_box_simplex
        from mixlab.sweep.plan import MixtureDesign, design_mixtures

        sweep = SweepConfig.model_validate(self.project.sweep_config())
        rows = design_mixtures(sweep.mixtures, self.domains, self.natural)
        lb, ub, _ = self.constraints().bounds(self.domains)
        W = np.array([[r.get(d, 0.0) for d in self.domains] for r in rows])
        W = round_mixtures(project_to_box_simplex(W, lb, ub), 4)
        mixtures = []
        for w in W:
            mixture = dict(zip(self.domains, map(float, w), strict=True))
            if mixture not in mixtures:
                mixtures.append(mixture)
        design = MixtureDesign(kind="list", mixtures=mixtures, include_prior=False)
        return sweep.model_copy(update={"mixtures": design})

    def tables(self, ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        with RunStore(self.project.store) as store:
            R, Y = store.mixtures(ids), store.metrics(ids)
        return R.reindex(columns=self.domains, fill_value=0.0).fillna(0.0), Y

    def fit(self, ids: list[str]):
        from mixlab.studies.mixing_fit import fit_law

        R, Y = self.tables(ids)
        law, report = fit_law(
            "auto",
            R,
            Y,
            list(self.target),
            self.target,
            seed=self.c.seed,
            n_splits=5,
            target_name=self.c.target.name,
        )
        return law, report, R, Y

    def constraints(self):
        from mixlab.laws import MixtureConstraints

        k = self.c.constraints
        lower = {d: max(k.floor * w, k.lower.get(d, 0.0)) for d, w in self.natural.items()}
        return MixtureConstraints(
            lower=lower,
            upper=dict(k.upper) or None,
            prior=self.natural,
            cap=k.cap,
            available_tokens={d: float(t) for d, t in self.available.items()},
            token_budget=self.c.proxy.tokens,
            max_epochs=k.max_epochs,
        )

    def later_round(self, k: int, ids: list[str]) -> list[TrainConfig]:
        from mixlab.laws import optimize_mixture
        from mixlab.laws.mixing.acquisition import propose_batch

        def build() -> list[TrainConfig]:
            with self.warnings_as_events():
                return _build()

        def _build() -> list[TrainConfig]:
            law, _, R, Y = self.fit(ids)
            cons = self.constraints()
            lb, ub, _ = cons.bounds(self.domains)
            opt = optimize_mixture(law, cons, reference="prior", seed=self.c.seed)
            centres = [np.array([self.natural[d] for d in self.domains]), opt.weights]
            batch = propose_batch(
                law,
                R.to_numpy(),
                Y[law.metric_names_].to_numpy(),
                lb,
                ub,
                centres,
                self.c.rounds.per_round,
                seed=self.c.seed + k,
            )
            mixtures = [
                dict(zip(self.domains, map(float, w), strict=True))
                for w in round_mixtures(batch.mixtures, 4)
            ]
            return [self._run(m, self.c.proxy.seeds[0], [f"round{k}"]) for m in mixtures]

        runs = self._plan(f"round{k}", build)
        self.say(f"round {k}", f"{len(runs)} runs placed by expected improvement")
        self._train(runs, f"round {k}")
        return runs

    def recommend(self, ids: list[str]) -> dict[str, Any]:
        """Fit the final law, optimise, save law and recommendation (once: read back after)."""

        path = self.state / "recommendation.json"
        if path.exists():
            return read_json(path)
        with self.warnings_as_events():
            doc = self._recommend(ids)
        write_json(doc, path)
        return doc

    def _recommend(self, ids: list[str]) -> dict[str, Any]:
        from mixlab.io.laws import save_law
        from mixlab.laws import optimize_mixture
        from mixlab.studies.mixing_fit import oof_table

        self.say("fit", f"auto law on {len(ids)} runs (5-fold cross-validation)")
        law, report, R, Y = self.fit(ids)
        for w in law.fit_warnings_:
            warnings.warn(w, stacklevel=1)
        (self.out / "laws").mkdir(exist_ok=True)
        save_law(law, self.out / "laws" / "auto.json")
        oof_table(law, report).to_csv(self.out / "cv_predictions.csv", index=False)
        cons = self.constraints()
        lb, ub, reason = cons.bounds(self.domains)
        self.say("recommend", "optimise the law under the constraints")
        res = optimize_mixture(
            law, cons, reference=self.reference, level=self.c.level, seed=self.c.seed
        )
        w = round_mixtures(np.array([res.mixture[d] for d in self.domains]), 4)[0]
        mixture = {d: float(v) for d, v in zip(self.domains, w, strict=True) if v > 0}
        binding = _binding(self.domains, w, lb, ub, reason)
        sel = law.selection_[0]
        doc = {
            "law": {
                "chosen": sel["chosen"],
                "why": sel["rule"],
                "table": [
                    {
                        "candidate": r["name"],
                        "cv_mae": _f(r.get("mae")),
                        "cv_median_ae": None,
                        "spearman": _f(r.get("spearman")),
                        "coverage": None,
                        "baseline_mae": _f(r.get("baseline_mae")),
                        "problems": list(r.get("problems", [])),
                        "chosen": bool(r["chosen"]),
                    }
                    for r in sel["candidates"]
                ],
                "cv_mae": float(report.mae_mean[0]),
                "baseline_mae": float(report.baseline_mae_mean[0]),
            },
            "recommended": {
                "mixture": mixture,
                "predicted": res.predicted,
                "interval": _interval(res.interval),
            },
            "reference": {
                "mixture": self.reference,
                "predicted": res.reference_predicted,
            },
            "predicted_gain": res.gain,
            "gain_interval": _interval(res.gain_interval),
            "interval_kind": res.interval_kind,
            "binding": binding,
            "extrapolated": res.extrapolated,
            "per_domain": self._per_domain(R, Y, mixture),
        }
        if doc["recommended"]["interval"] and doc["reference"]["predicted"] is not None:
            half = (res.interval[1] - res.interval[0]) / 2
            p = doc["reference"]["predicted"]
            doc["reference"]["interval"] = [p - half, p + half]
        return doc

    def _per_domain(self, R: pd.DataFrame, Y: pd.DataFrame, mixture: dict[str, float]) -> list:
        """Predicted validation loss of every domain at the reference and the recommendation."""
        from mixlab.laws.mixing.conformal import prediction_halfwidth
        from mixlab.studies.mixing_fit import fit_law

        metrics = [f"val_loss/{d}" for d in self.domains if f"val_loss/{d}" in Y.columns]
        law, _ = fit_law(
            "auto",
            R,
            Y,
            metrics,
            None,
            seed=self.c.seed,
            params={"candidates": ["linear", "exp[linear]", "lgbm"]},
        )
        pts = np.array(
            [
                [self.reference.get(d, 0.0) for d in self.domains],
                [mixture.get(d, 0.0) for d in self.domains],
            ]
        )
        P = law.predict(pts)
        rows = []
        for j, m in enumerate(law.target_names_):
            q = prediction_halfwidth(law, m, self.c.level)
            rows.append(
                {
                    "domain": m.split("/", 1)[1],
                    "reference": float(P[0, j]),
                    "recommended": float(P[1, j]),
                    "interval": _interval((P[1, j] - q, P[1, j] + q)),
                }
            )
        return rows

    def verify(self, rec: dict[str, Any]) -> list[tuple[str, int, TrainConfig]]:
        """Train the recommended and the reference mixtures with every verification seed;
        returns (name, seed, run) for each (one run serves both if the mixtures are equal)."""
        pairs = [
            (name, seed, self._run(mixture, seed, ["verify", name]))
            for seed in self.c.verify.seeds
            for name, mixture in (
                ("recommended", rec["recommended"]["mixture"]),
                ("reference", self.reference),
            )
        ]

        def build() -> list[TrainConfig]:
            return list({cfg.id: cfg for _, _, cfg in pairs}.values())

        runs = self._plan("verify", build)
        self.say("verify", f"recommended and reference mixtures, seeds {self.c.verify.seeds}")
        self._train(runs, "verify")
        return pairs

    # -- the whole loop -------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from mixlab.studies.decision import decision_document, verification_summary

        self.prepare()
        from mixlab.sweep.plan import natural_shares

        self.natural = natural_shares(self.project.shards)
        self.domains = list(self.natural)
        from mixlab.data.prepared import load_prepared

        self.available = load_prepared(self.project.shards).token_counts()
        rounds = [("design", self.round1())]
        natural_run = rounds[0][1][0]  # the plan puts the prior (natural shares) first
        self.natural_run = natural_run
        ref = self.c.verify.reference
        if ref == "natural":
            self.reference = {d: float(natural_run.mixture.get(d, 0.0)) for d in self.domains}
        elif isinstance(ref, str):
            raise InputError(f"verify.reference: 'natural' or a mixture, got {ref!r}")
        else:
            unknown = [d for d in ref if d not in self.domains]
            if unknown:
                raise InputError(f"verify.reference: unknown domain(s) {unknown}")
            s = sum(ref.values())
            self.reference = {d: float(ref.get(d, 0.0)) / s for d in self.domains}
        ids = [r.id for r in rounds[0][1]]
        for k in range(2, self.c.rounds.count + 1):
            runs = self.later_round(k, ids)
            rounds.append(("acquisition", runs))
            ids += [r.id for r in runs if r.id not in ids]
        rec = self.recommend(ids)
        pairs = self.verify(rec)
        observed = self.observed(list(dict.fromkeys(cfg.id for _, _, cfg in pairs)))
        verification = verification_summary(pairs, observed, rec)
        self.say("exports", "the recommended mixture for Megatron, OLMo-core, nanoGPT, HF")
        exports = self.exports(rec["recommended"]["mixture"], rec)
        doc = decision_document(self, rec, verification, rounds, exports)
        if self.c.strategies is not None and self.c.strategies.asked():
            from mixlab.studies.strategies import run_strategies

            doc["strategies"] = run_strategies(self, pairs, ids)
        path = write_json(doc, self.out / "decision.json")
        self.say("report", "decision-first HTML report")
        from mixlab.report.decision import write_decision_report

        report = write_decision_report(path, self.out / "report.html")
        doc["report"] = str(report)
        doc["seconds"] = round(time.perf_counter() - self.started, 1)
        return doc


def run_project(
    project: Project, emit: Emit = _quiet, commands: list[str] | None = None
) -> dict[str, Any]:
    """Run (or resume) the whole loop of a project; returns the decision document."""
    return Loop(project, emit, commands).run()


def _normalised(weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items() if v > 0}


def _interval(iv) -> list[float] | None:
    """[lo, hi] as floats, or None when there is none or it is unbounded (too few runs for
    a conformal quantile at the level)."""
    if iv is None or not all(np.isfinite(iv)):
        return None
    return [float(iv[0]), float(iv[1])]


def _f(v: Any) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _binding(domains, w, lb, ub, reason) -> list[dict[str, Any]]:
    out = []
    for i, d in enumerate(domains):
        if lb[i] > 0 and w[i] <= lb[i] + 1e-4:
            out.append({"domain": d, "kind": "floor", "bound": float(lb[i])})
        elif ub[i] < 1 and w[i] >= ub[i] - 1e-4:
            kind = (
                "cap"
                if reason[i].startswith("cap")
                else ("epochs" if reason[i].startswith("tokens") else "cap")
            )
            out.append({"domain": d, "kind": kind, "bound": float(ub[i])})
    return out
