"""The strategies stage of `mixlab run`: mixtures that change during training, against the
static recommendation, at the proxy budget and with the verification seeds.

Asked for in project.yaml under `strategies:` (studies/project.py); run after the static
recommendation is verified.  Every run is an ordinary store run (id = config hash), each plan
is written to `<output>/loop/strategy-*.json` before its runs train and read back on a re-run,
and each strategy's options are saved beside its plans: a re-run with other options is
refused, naming the strategy (adding a strategy to a finished project is fine).

- doremi: a DoReMi proxy (seed = the first verify seed, starting from the natural shares)
  against the natural verification run of that seed; its weights averaged over training,
  projected onto the project's constraints, are the strategy's mixture: a static mixture,
  trained with every verify seed.  Those static runs are what is compared, since that mixture
  is what DoReMi hands to production (the proxy itself trains on a moving mixture under a
  different objective).
- aioli: one online run per verify seed from the natural shares; the online run is the
  result; the mean of its seeds' averaged weights is exported as a static mixture.
- two_phase: a swarm of 2-phase proxies (projected onto the constraints phase by phase), the
  `auto` law on phase features of the swarm and the rounds' static runs, the best schedule
  under the constraints (epoch caps over both phases), trained with every verify seed.  A
  phase law that loses to predicting the mean or raises a FitWarning is said to fail (an
  event and `law.usable: false`); its schedule is still trained, so the failure is measured.

The runs train in two batches (fewer worker starts): first what needs nothing new (the DoReMi
proxy, the Aioli runs, the 2-phase swarm), then what needs their results.  Each result is
paired by seed with the recommended mixture's verification runs and judged by the
verification's own noise rule (laws/core/noise.py).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from mixlab.errors import InputError
from mixlab.io.files import read_json, write_json
from mixlab.laws.core.noise import NOISE_MULTIPLE, noise_verdict, paired_gain
from mixlab.laws.mixing.design import round_mixtures
from mixlab.runs import RunStore
from mixlab.sweep.plan import expand_run
from mixlab.train.config import TrainConfig

AVERAGED = "mix_weight_avg/"


def run_strategies(loop, pairs: list[tuple[str, int, TrainConfig]], ids: list[str]) -> dict:
    """Run (or resume) every strategy the project asks for; the decision's `strategies` block."""
    return StrategyStage(loop, pairs, ids).run()


class StrategyStage:
    """The strategies of one loop, after its verification (`pairs`) and rounds (`ids`)."""

    def __init__(self, loop, pairs: list[tuple[str, int, TrainConfig]], ids: list[str]):
        self.loop = loop
        self.c = loop.c
        self.seeds = list(self.c.verify.seeds)
        self.round_ids = list(ids)
        self.static = {seed: cfg for name, seed, cfg in pairs if name == "recommended"}
        self.natural = {d: float(w) for d, w in loop.natural_run.mixture.items() if w > 0}
        self.reference_runs = (
            {seed: cfg for name, seed, cfg in pairs if name == "reference"}
            if self.c.verify.reference == "natural"
            else {}
        )

    # -- helpers --------------------------------------------------------------------------
    def _run(self, mixture: dict[str, Any], seed: int, tag: str, **fields: Any) -> TrainConfig:
        loop = self.loop
        return expand_run(
            loop.project.train_base(),
            mixture,
            self.c.proxy.models[0],
            self.c.proxy.tokens,
            seed,
            [self.c.name, "strategy", tag],
            f"{loop.project.path or 'project'}: strategies",
            loop.out,
            **fields,
        )

    def _check_unchanged(self, name: str, options: dict[str, Any]) -> None:
        """Refuse to resume a strategy whose options differ from those its plans were made with."""
        path = self.loop.state / f"strategy-{name}.settings.json"
        if not path.exists():
            write_json(options, path)
            return
        saved = read_json(path)
        if saved != options:
            changed = sorted(k for k in {*saved, *options} if saved.get(k) != options.get(k))
            raise InputError(
                f"{self.loop.project.path or 'project'}: strategies.{name}: "
                f"{', '.join(changed)} changed since its plans in {self.loop.state} were made; "
                f"restore them, or delete {self.loop.state}/strategy-{name}* to plan it anew "
                "(its runs stay in the store)"
            )

    def _averaged(self, run_id: str) -> dict[str, float]:
        with RunStore(self.loop.project.store) as store:
            record = store.get(run_id)
        avg = {
            e.metric[len(AVERAGED) :]: float(e.value)
            for e in record.evaluations
            if e.metric.startswith(AVERAGED)
        }
        if not avg:
            raise RuntimeError(f"online run {run_id} recorded no averaged weights ({AVERAGED}*)")
        return avg

    def _constrained(self, weights: dict[str, float]) -> dict[str, float]:
        """`weights` projected onto the project's constraints, rounded as the rounds' mixtures."""
        from mixlab.laws.mixing.optimize import project_to_box_simplex

        domains = self.loop.domains
        lb, ub, _ = self.loop.constraints().bounds(domains)
        w = np.array([weights.get(d, 0.0) for d in domains])
        w = round_mixtures(project_to_box_simplex(w / w.sum(), lb, ub), 4)[0]
        return {d: float(v) for d, v in zip(domains, w, strict=True) if v > 0}

    def _outside(self, weights: dict[str, float]) -> list[str]:
        """The domains whose weight lies outside the project's constraints (floor, cap, epochs)."""
        lb, ub, _ = self.loop.constraints().bounds(self.loop.domains)
        return [
            d
            for d, lo, hi in zip(self.loop.domains, lb, ub, strict=True)
            if not lo - 1e-4 <= weights.get(d, 0.0) <= hi + 1e-4
        ]

    # -- the stage ------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Two batches, each trained at once: what needs nothing new (the DoReMi proxy, the
        Aioli runs, the 2-phase swarm), then what needs their results (DoReMi's static
        runs, the optimised schedule's runs)."""
        asked = self.c.strategies.asked()
        for name, options in asked.items():
            self._check_unchanged(name, options.model_dump(mode="json"))
        first = {name: getattr(self, f"{name}_first")(opts) for name, opts in asked.items()}
        self._train_all(first, "strategies 1/2")
        with self.loop.warnings_as_events():
            second = {
                name: getattr(self, f"{name}_second")(opts, first[name])
                for name, opts in asked.items()
            }
        self._train_all(second, "strategies 2/2")
        static = self._observed(list(self.static.items()))
        block: dict[str, Any] = {
            "compared_with": "recommended",
            "rule": f"paired by seed; beyond noise = more than {NOISE_MULTIPLE:g} x the "
            "standard error of the per-seed differences",
            "seeds": self.seeds,
            "static": {"mixture": dict(self.static[self.seeds[0]].mixture), **static},
        }
        for name in asked:
            result = getattr(self, f"{name}_result")(first[name], second[name])
            result.update(self._compare(result.pop("by_seed"), static))
            result["exports"] = self._exports(name, result)
            block[name] = result
            self.loop.say(
                "strategies",
                f"{name}: {result['observed']:.4f} against {static['observed']:.4f} static, "
                f"gain {result['gain_over_static']:+.4f} ± {result['seed_noise']:.4f}: "
                f"{result['verdict']}",
            )
        return block

    def _train_all(self, plans: dict[str, list[TrainConfig]], label: str) -> None:
        runs = list({r.id: r for plan in plans.values() for r in plan}.values())
        if runs:
            names = ", ".join(k for k, plan in plans.items() if plan)
            self.loop.say("strategies", f"batch {label[-3:]}: {len(runs)} runs ({names})")
            self.loop._train(runs, label)

    # DoReMi: the proxy, then its averaged weights as a static mixture with every seed
    def doremi_first(self, options) -> list[TrainConfig]:
        """The proxy, and the natural run of its seed when the verification's reference is
        not natural (the sweep trains a DoReMi run after its reference)."""
        seed = self.seeds[0]
        reference = self.reference_runs.get(seed)
        extra = [] if reference is not None else [self._run(self.natural, seed, "doremi-ref")]
        reference = reference or extra[0]
        proxy = self._run(
            self.natural,
            seed,
            "doremi-proxy",
            online={"method": "doremi", "reference_run": reference.id, **options.model_dump()},
        )
        return self.loop._plan("strategy-doremi-proxy", lambda: [proxy, *extra])

    def doremi_second(self, options, first: list[TrainConfig]) -> list[TrainConfig]:
        averaged = self._averaged(first[0].id)

        def build() -> list[TrainConfig]:
            mixture = self._constrained(averaged)
            return [self._run(mixture, s, "doremi") for s in self.seeds]

        return self.loop._plan("strategy-doremi", build)

    def doremi_result(self, first: list[TrainConfig], second: list[TrainConfig]) -> dict:
        proxy = first[0]
        averaged = self._averaged(proxy.id)
        return {
            "kind": "doremi",
            "mixture": dict(second[0].mixture),
            "averaged_weights": averaged,
            "outside_constraints": self._outside(averaged),
            "proxy_run_id": proxy.id,
            "reference_run_id": proxy.online.reference_run,
            "online_run_ids": [proxy.id],
            "by_seed": list(zip(self.seeds, second, strict=True)),
        }

    # Aioli: the online runs are the result
    def aioli_first(self, options) -> list[TrainConfig]:
        online = {"method": "aioli", **options.model_dump(), "objective": self.aioli_objective()}
        return self.loop._plan(
            "strategy-aioli",
            lambda: [self._run(self.natural, s, "aioli", online=online) for s in self.seeds],
        )

    def aioli_objective(self) -> dict[str, float] | None:
        """The target's weights on the domains' validation losses, so Aioli lowers the target
        rather than the average of every domain; None (the paper's average) when the target
        has other metrics."""
        prefix = "val_loss/"
        if not all(m.startswith(prefix) for m in self.loop.target):
            return None
        return {m[len(prefix) :]: w for m, w in self.loop.target.items()}

    def aioli_second(self, options, first: list[TrainConfig]) -> list[TrainConfig]:
        return []

    def aioli_result(self, first: list[TrainConfig], second: list[TrainConfig]) -> dict:
        per_seed = {str(s): self._averaged(r.id) for s, r in zip(self.seeds, first, strict=True)}
        frame = pd.DataFrame(per_seed.values()).fillna(0.0)
        mean = (frame.mean() / frame.mean().sum()).to_dict()
        return {
            "kind": "aioli",
            "averaged_weights": {d: float(w) for d, w in mean.items()},
            "averaged_weights_per_seed": per_seed,
            "outside_constraints": self._outside(mean),
            "online_run_ids": [r.id for r in first],
            "by_seed": list(zip(self.seeds, first, strict=True)),
        }

    # two_phase: the swarm, then the optimised schedule with every seed
    def two_phase_first(self, options) -> list[TrainConfig]:
        return self.loop._plan("strategy-two_phase-swarm", lambda: self._swarm(options))

    def two_phase_second(self, options, first: list[TrainConfig]) -> list[TrainConfig]:
        path = self.loop.state / "strategy-two_phase-schedule.json"
        if path.exists():
            self.schedule = read_json(path)
        else:
            self.loop.say("strategies", "two_phase: the auto law on phase features; optimise")
            self.schedule = self._schedule(options, [r.id for r in first])
            write_json(self.schedule, path)
        for note in self.schedule["law"].get("notes", []):
            warnings.warn(f"two_phase: {note}", stacklevel=1)
        for problem in self.schedule["law"]["problems"]:
            warnings.warn(
                f"two_phase: the phase law fails ({problem}): its schedule is trained and "
                "compared, but it is no recommendation",
                stacklevel=1,
            )
        curriculum = {"kind": "curriculum", "stages": self.schedule["stages"]}
        return self.loop._plan(
            "strategy-two_phase",
            lambda: [self._run(curriculum, s, "two_phase") for s in self.seeds],
        )

    def two_phase_result(self, first: list[TrainConfig], second: list[TrainConfig]) -> dict:
        return {
            "kind": "two_phase",
            **self.schedule,
            "swarm_run_ids": [r.id for r in first],
            "by_seed": list(zip(self.seeds, second, strict=True)),
        }

    def _swarm(self, options) -> list[TrainConfig]:
        """Dirichlet 2-phase schedules around the natural shares (the rounds' design, one
        mixture per phase), each phase projected onto the constraints."""
        from mixlab.laws.mixing.optimize import project_to_box_simplex
        from mixlab.sweep.plan import MixtureDesign, design_schedules

        loop, domains = self.loop, self.loop.domains
        design = MixtureDesign(
            kind="dirichlet",
            n=options.n,
            concentration=self.c.rounds.concentration,
            cap=self.c.constraints.cap,
            seed=self.c.seed + 1,  # not round 1's draws
            phases=2,
            fractions=options.fractions,
            include_prior=False,
        )
        lb, ub, _ = loop.constraints().bounds(domains)
        runs = []
        for schedule in design_schedules(design, domains, loop.natural):
            stages = schedule["stages"]
            W = np.array([[s["weights"].get(d, 0.0) for d in domains] for s in stages])
            W = round_mixtures(project_to_box_simplex(W, lb, ub), 4)
            for stage, w in zip(stages, W, strict=True):
                stage["weights"] = {d: float(v) for d, v in zip(domains, w, strict=True) if v > 0}
            runs.append(self._run(schedule, self.c.proxy.seeds[0], "two_phase-swarm"))
        return list({r.id: r for r in runs}.values())

    def _schedule(self, options, swarm_ids: list[str]) -> dict[str, Any]:
        """Fit the phase law (swarm + the rounds' static runs) and optimise a 2-phase
        schedule under the constraints; what failed is listed under `law.problems`."""
        from mixlab.laws.mixing.multiphase import optimize_schedule
        from mixlab.studies.multiphase import fit_phase_law

        loop = self.loop
        ids = list(dict.fromkeys([*self.round_ids, *swarm_ids]))
        with RunStore(loop.project.store) as store:
            records = store.get_many(ids)
            metrics = store.metrics(ids)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            law, report, seen = fit_phase_law(
                records,
                metrics,
                list(loop.target),
                loop.target,
                n_phases=2,
                domains=loop.domains,
                fractions=options.fractions,
                seed=self.c.seed,
                target_name=self.c.target.name,
            )
            result = optimize_schedule(
                law,
                loop.constraints(),
                fractions=options.fractions or seen[0],
                observed_fractions=seen,
                reference="prior",
                within_range=True,
                level=self.c.level,
                seed=self.c.seed,
            )
        from mixlab.laws.core.fitting import FitWarning

        # a candidate the auto law rejected is a note (it chose another); the chosen law
        # failing is a problem: every candidate rejected, a FitWarning of the optimiser
        # (an extrapolated schedule), or no better than predicting the mean
        said = [str(w) for w in getattr(law, "fit_warnings_", [])]
        said += [str(w.message) for w in caught if issubclass(w.category, FitWarning)]
        said = list(dict.fromkeys(said))
        notes = [w for w in said if w.startswith("auto law: candidate ")]
        problems = [w for w in said if w not in notes]
        chosen = (getattr(law, "selection_", None) or [{}])[0].get("chosen", "auto")
        cv, base = float(report.mae_mean[0]), float(report.baseline_mae_mean[0])
        if not cv < base:
            problems.append(f"CV MAE {cv:.4g} does not beat predicting the mean ({base:.4g})")
        problems = list(dict.fromkeys(problems))
        W = round_mixtures(
            np.array([[m.get(d, 0.0) for d in loop.domains] for m in result.mixtures]), 4
        )
        stages = [
            {
                "fraction": float(f),
                "weights": {d: float(v) for d, v in zip(loop.domains, w, strict=True) if v > 0},
            }
            for f, w in zip(result.fractions, W, strict=True)
        ]
        return {
            "stages": stages,
            "totals": result.totals,
            "predicted": result.predicted,
            "interval": None if result.interval is None else list(result.interval),
            "predicted_gain_over_law_static": result.gain_over_static,
            "binding": list(result.binding),
            "extrapolated": list(result.extrapolated),
            "law": {
                "chosen": chosen,
                "runs": len(ids),
                "cv_mae": cv,
                "baseline_mae": base,
                "problems": problems,
                "notes": notes,
                "usable": not problems,
            },
        }

    # -- results --------------------------------------------------------------------------
    def _observed(self, by_seed: list[tuple[int, TrainConfig]]) -> dict[str, Any]:
        """Per seed the target and the per-domain validation losses; their means."""
        ids = [r.id for _, r in by_seed]
        target = self.loop.observed(ids)
        with RunStore(self.loop.project.store) as store:
            Y = store.metrics(ids)
        losses = [f"val_loss/{d}" for d in self.loop.domains if f"val_loss/{d}" in Y.columns]
        runs = [
            {
                "seed": s,
                "run_id": r.id,
                "observed": float(target[r.id]),
                "per_domain": {m.split("/", 1)[1]: float(Y.loc[r.id, m]) for m in losses},
            }
            for s, r in by_seed
        ]
        return {
            "runs": runs,
            "observed": float(np.mean([x["observed"] for x in runs])),
            "per_domain": {
                m.split("/", 1)[1]: float(
                    np.mean([x["per_domain"][m.split("/", 1)[1]] for x in runs])
                )
                for m in losses
            },
        }

    def _compare(self, by_seed: list[tuple[int, TrainConfig]], static: dict) -> dict[str, Any]:
        """The strategy's runs, and its gain over the static recommendation paired by seed."""
        mine = self._observed(by_seed)
        paired = paired_gain(
            {x["seed"]: x["observed"] for x in static["runs"]},
            {x["seed"]: x["observed"] for x in mine["runs"]},
        )
        return {
            **mine,
            "gain_over_static": paired["gain"],
            "seed_noise": paired["seed_noise"],
            "seed_noise_unpaired": paired["seed_noise_unpaired"],
            "per_seed_gain": {str(k): v for k, v in paired["per_seed"].items()},
            "verdict": noise_verdict(paired["gain"], paired["seed_noise"]),
        }

    def _exports(self, name: str, result: dict[str, Any]) -> dict[str, str]:
        """Production files beside the static ones: the mixture (doremi), the averaged
        weights (aioli) or the schedule (two_phase), in every format."""
        loop = self.loop
        extra = {"strategy": name, "observed": result["observed"], "verdict": result["verdict"]}
        if name in ("doremi", "aioli"):
            mixture = result["mixture"] if name == "doremi" else result["averaged_weights"]
            return loop.exports(mixture, {}, stem=name, extra=extra)
        from mixlab.export.schedules import write_schedule_export

        out = {}
        for fmt in ("json", "megatron", "olmo", "hf"):
            manifest = f"mixture/{name}.json" if fmt == "json" else f"mixture/{name}.{fmt}.json"
            write_schedule_export(
                loop.out / manifest,
                {"kind": "curriculum", "stages": result["stages"]},
                fmt,
                data=loop.export_data(fmt),
                requested_tokens=self.c.proxy.tokens,
                max_epochs={d: self.c.constraints.max_epochs for d in loop.domains},
                extra=extra,
            )
            out[fmt] = manifest
        return out
