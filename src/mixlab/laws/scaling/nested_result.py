"""What nested prediction returns: each stage's predictions, the mixing law, the optimum."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mixlab.errors import InputError
from mixlab.laws.core.bootstrap import percentile_interval
from mixlab.laws.core.estimator import DEFAULT_LEVEL
from mixlab.laws.mixing.base import MixingLaw
from mixlab.laws.mixing.optimize import OptimizationResult

__all__ = ["NESTED_FORMAT", "NestedResult"]

NESTED_FORMAT = "mixlab.nested"


@dataclass
class NestedResult:
    """What each stage predicted, the mixing law fitted on it, and the optimum."""

    target_steps: float
    target_size: float
    runs: pd.DataFrame  # index run id: mixture, n_params, n_points, last_step, E, B, a, predicted
    mixtures: pd.DataFrame  # index mixture key: domain weights, n_sizes, E, A, b, predicted
    domains: list[str]
    law: MixingLaw
    fit_mixtures: list[str]
    size_exponent: str
    optimum: OptimizationResult | None = None
    level: float = DEFAULT_LEVEL
    size_samples: np.ndarray | None = None  # (n_boot, n_mixtures)
    boot_laws: list[MixingLaw] = field(default_factory=list)
    optimum_samples: np.ndarray | None = None  # (n_boot,)
    skipped: list[str] = field(default_factory=list)  # mixtures with runs at < 3 sizes
    law_check: str | None = None  # why the mixing law looks degenerate, if it does
    backtest: dict[str, Any] | None = None  # see :func:`nested_backtest.stage_backtest`
    law_selection: dict[str, Any] | None = None  # auto's choice on the proxy sizes
    size_field: str = "n_params"  # what the sizes (and target_size) count

    def predict(self, R: Any) -> np.ndarray:
        """The mixing law's loss at the target steps and size for mixtures `R`, shape (n,)."""
        return self.law.predict(R)[:, 0]

    def predict_interval(self, R: Any, level: float | None = None) -> np.ndarray:
        """Percentile interval over the bootstrap replicates, shape (2, n)."""
        if not self.boot_laws:
            raise InputError("nested prediction: no bootstrap replicates (n_bootstrap=0)")
        P = np.stack([law.predict(R)[:, 0] for law in self.boot_laws])
        return percentile_interval(P, self.level if level is None else level)

    def corrected(self, R: Any) -> np.ndarray:
        """The prediction less the bias the back-test measured (the plain one without it)."""
        pred = self.predict(R)
        if self.backtest is None:
            return pred
        return pred - self.backtest["bias_at_target"]

    def backtest_interval(self, R: Any, level: float | None = None) -> np.ndarray:
        """Back-tested interval, shape (2, n): the bias-corrected prediction +- a t quantile
        of the back-test spread (sizes) and the mixing law's cross-validated error."""
        if self.backtest is None:
            raise InputError(
                "nested prediction: no back-test (needs runs at >= 3 sizes and "
                ">= 4 fitted mixtures)"
            )
        from scipy.stats import t as student_t

        level = self.level if level is None else level
        bt = self.backtest
        q = float(student_t.ppf(0.5 + level / 2, max(bt["n"] - 1, 1)))
        centre = self.corrected(R)
        half = q * bt["sd_at_target"]
        return np.vstack([centre - half, centre + half])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: per-run and per-mixture stage results, the law, the optimum."""
        mix = self.mixtures.copy()
        if self.backtest is not None:
            keys = list(mix.index)
            R = mix[self.domains].to_numpy(float)
            lo_hi = self.backtest_interval(R)
            mix["corrected"] = self.corrected(R)
            mix["low"], mix["high"] = lo_hi[0], lo_hi[1]
            mix.index = pd.Index(keys, name=mix.index.name)
        elif self.size_samples is not None:
            lo_hi = percentile_interval(self.size_samples, self.level)
            mix["low"], mix["high"] = lo_hi[0], lo_hi[1]
        out: dict[str, Any] = {
            "format": NESTED_FORMAT,
            "version": 1,
            "target_steps": self.target_steps,
            "target_size": self.target_size,
            "domains": self.domains,
            "size_exponent": self.size_exponent,
            "size_field": self.size_field,
            "level": self.level,
            "n_bootstrap": 0 if self.size_samples is None else int(len(self.size_samples)),
            "runs": _records(self.runs, "run_id"),
            "mixtures": _records(mix, "mixture"),
            "fit_mixtures": self.fit_mixtures,
            "skipped": self.skipped,
            "law_check": self.law_check,
            "backtest": self.backtest,
            "law_selection": self.law_selection,
            "law": self.law.to_dict(),
            "optimum": None,
        }
        if self.optimum is not None:
            opt = self.optimum.to_dict()
            if self.backtest is not None:
                lo, hi = self.backtest_interval(self.optimum.weights[None, :])[:, 0]
                opt["corrected"] = float(self.corrected(self.optimum.weights[None, :])[0])
                opt["interval"], opt["level"] = [float(lo), float(hi)], self.level
                opt["interval_kind"] = "back-test"
            elif self.optimum_samples is not None:
                lo, hi = percentile_interval(self.optimum_samples, self.level)
                opt["interval"], opt["level"] = [float(lo), float(hi)], self.level
            out["optimum"] = opt
        return out


def _records(frame: pd.DataFrame, key: str) -> list[dict[str, Any]]:
    rows = frame.reset_index().rename(columns={frame.index.name or "index": key})
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in rows.to_dict(orient="records")
    ]
