"""The base of every scaling law: checks, the fit through the shared engine, bootstrap, I/O dict.

Every law is fitted by the shared engine (:func:`~mixlab.laws.core.fitting.fit_model`) as
Hoffmann et al. and Besiroglu et al. do: a Huber loss (delta 1e-3) on log(pred) - log(obs),
summed over points, minimised by L-BFGS from a grid of starts.  All grid starts are scored
first and only the `n_refine` best are refined (`n_refine=None` refines every start); on
Epoch's Chinchilla data the best 10 already reach the full grid's optimum.  Intervals come
from refits on bootstrap resamples of the points, each started at the full-data optimum.
The forms themselves live in power.py (step, size), chinchilla.py (chinchilla, overtrain)
and schedule.py (schedule).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from mixlab.errors import InputError
from mixlab.laws.core.bootstrap import bootstrap_fits, percentile_interval
from mixlab.laws.core.checks import as_finite_array
from mixlab.laws.core.estimator import DEFAULT_LEVEL, Estimator, FamilyKinds, jsonable, make
from mixlab.laws.core.estimator import law_from_dict as _any_law_from_dict
from mixlab.laws.core.fitting import (
    CurveModel,
    FitResult,
    ParamSpec,
    fit_model,
    make_loss,
    screen_starts,
)

__all__ = [
    "EXPONENT_MAX",
    "SCALING_FORMS",
    "ScalingLaw",
    "make_scaling_law",
    "scaling_law_from_dict",
]

FORMAT = "mixlab.scaling_law"
FORMAT_VERSION = 1
EXPONENT_MAX = 5.0
SCALING_FORMS = FamilyKinds("scaling")


class ScalingLaw(Estimator):
    """Base class: a loss law in one or more positive variables (steps, N, D, ...).

    Hyperparameters are constructor arguments kept as plain attributes; what `fit` learns
    ends with an underscore: `params_` (name -> value), `cost_` (the robust objective at
    the optimum), `n_points_`, `dropped_` (rows left out), `fit_info_`, and after a
    bootstrap `boot_params_` (n_boot, p) and `ci_` (name -> [low, high]).
    """

    family = "scaling"
    format = FORMAT

    # hyperparameters every law has (set by subclasses' __init__)
    loss: str
    delta: float
    residual: str
    drop_highest: int
    n_refine: int | None
    n_bootstrap: int
    level: float
    seed: int
    maxiter: int

    def __init__(
        self,
        loss: str = "huber",
        delta: float = 1e-3,
        residual: str = "log",
        drop_highest: int = 0,
        n_refine: int | None = 3,
        n_bootstrap: int = 0,
        level: float = DEFAULT_LEVEL,
        seed: int = 0,
        maxiter: int = 2000,
    ) -> None:
        self.loss = loss
        self.delta = delta
        self.residual = residual
        self.drop_highest = drop_highest
        self.n_refine = n_refine
        self.n_bootstrap = n_bootstrap
        self.level = level
        self.seed = seed
        self.maxiter = maxiter

    @property
    def form(self) -> str:
        """The kind, under the name the scaling CLI and old law files use."""
        return self.kind

    # ---- what a form defines --------------------------------------------------------

    @property
    def variables(self) -> tuple[str, ...]:
        """Names of the input columns, in order."""
        raise NotImplementedError

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self._specs()]

    def _specs(self) -> list[ParamSpec]:
        raise NotImplementedError

    def _design(self, X: np.ndarray) -> np.ndarray:
        """The matrix the model function reads (usually logs of the variables)."""
        return np.log(X)

    def _f(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _jac(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _raw_starts(self, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _select_rows(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Boolean mask of rows the fit may use (before dropping the highest losses)."""
        return np.ones(len(y), dtype=bool)

    def _model(self) -> CurveModel:
        return CurveModel(self._specs(), self._f, self._jac)

    # ---- validation -----------------------------------------------------------------

    def _check_X(self, X: Any, n: int | None = None) -> np.ndarray:
        names = self.variables
        if isinstance(X, Mapping) or (hasattr(X, "columns") and hasattr(X, "to_numpy")):
            cols = list(X.keys()) if isinstance(X, Mapping) else [str(c) for c in X.columns]
            missing = [v for v in names if v not in cols]
            if missing:
                raise InputError(
                    f"{self.label}: missing column(s) {missing}; expected {list(names)}"
                )
            try:
                arrs = [np.asarray(X[v], dtype=float).ravel() for v in names]
            except (TypeError, ValueError) as exc:
                raise InputError(f"{self.label}: values must be numbers ({exc})") from None
            lens = {len(a) for a in arrs}
            if len(lens) > 1:
                raise InputError(f"{self.label}: columns {list(names)} differ in length")
            arr = np.column_stack(arrs) if arrs else np.empty((0, 0))
        else:
            try:
                arr = np.asarray(X, dtype=float)
            except (TypeError, ValueError) as exc:
                raise InputError(f"{self.label}: values must be numbers ({exc})") from None
            if arr.ndim == 0:
                arr = arr.reshape(1, 1)
            if arr.ndim == 1:
                arr = arr[:, None] if len(names) == 1 else arr[None, :]
            if arr.ndim != 2 or arr.shape[1] != len(names):
                raise InputError(
                    f"{self.label}: expected {len(names)} column(s) {list(names)}, got an "
                    f"array of shape {np.shape(X)}"
                )
        if n is not None and arr.shape[0] != n:
            raise InputError(f"{self.label}: {arr.shape[0]} input rows but {n} losses")
        for j, name in enumerate(names):
            col = arr[:, j]
            # U = inf: unlimited unique data, every token seen once
            bad = np.flatnonzero(np.isnan(col) if name == "U" else ~np.isfinite(col))
            if bad.size:
                raise InputError(
                    f"{self.label}: column {name!r}, row {int(bad[0])} is NaN or infinite"
                )
            bad = np.flatnonzero(col <= 0)
            if bad.size:
                raise InputError(
                    f"{self.label}: column {name!r}, row {int(bad[0])} is {col[bad[0]]:g}; "
                    "values must be positive"
                )
        return arr

    def _check_y(self, y: Any) -> np.ndarray:
        y = as_finite_array(y, "losses", self.label, item="loss")
        bad = np.flatnonzero(y <= 0)
        if bad.size and self.residual == "log":
            raise InputError(
                f"{self.label}: loss at row {int(bad[0])} is {y[bad[0]]:g}; a log-residual "
                "fit needs positive losses"
            )
        return y

    def _check_hyper(self) -> None:
        if self.residual not in ("log", "identity"):
            raise InputError(f"{self.label}: residual must be 'log' or 'identity'")
        make_loss(self.loss, self.delta)
        if not (isinstance(self.drop_highest, int | np.integer) and self.drop_highest >= 0):
            raise InputError(f"{self.label}: drop_highest must be an integer >= 0")
        if not (isinstance(self.n_bootstrap, int | np.integer) and self.n_bootstrap >= 0):
            raise InputError(f"{self.label}: n_bootstrap must be an integer >= 0")
        if not 0 < self.level < 1:
            raise InputError(f"{self.label}: level must be in (0, 1), got {self.level}")
        if self.n_refine is not None and self.n_refine < 1:
            raise InputError(f"{self.label}: n_refine must be None or >= 1")

    # ---- fit / predict --------------------------------------------------------------

    def fit(self, X: Any, y: Any, *, init: Mapping[str, float] | None = None) -> ScalingLaw:
        """Fit on inputs `X` (n rows of `variables`) and losses `y` (n,).

        `X` is an array (a 1-d array for one variable) or a table / mapping with the
        variables as columns.  `init` (parameter name -> value) replaces the start grid by
        that single start (used for warm-started refits).
        """
        self._check_hyper()
        y = self._check_y(y)
        X = self._check_X(X, len(y))
        rows = np.flatnonzero(self._select_rows(X, y))
        dropped = []
        if self.drop_highest:
            order = rows[np.argsort(-y[rows], kind="stable")]
            dropped = sorted(int(i) for i in order[: self.drop_highest])
            rows = np.setdiff1d(rows, dropped)
        p = len(self._specs())
        if rows.size < p:
            raise InputError(
                f"{self.label}: {rows.size} usable point(s) for {p} parameters "
                f"({len(y)} given, {len(y) - rows.size} left out); need at least {p}"
            )
        Xf, yf = X[rows], y[rows]
        Z = self._design(Xf)
        model = self._model()
        if init is not None:
            starts = np.array([[float(init[n]) for n in self.param_names]])
        else:
            starts = screen_starts(
                model,
                Z,
                yf,
                self._raw_starts(Z, yf),
                self.n_refine,
                loss=self.loss,
                delta=self.delta,
                residual=self.residual,
            )
        res = self._fit_arrays(Z, yf, starts)
        self.params_ = res.as_dict()
        self.cost_ = float(res.cost)
        self.n_points_ = int(rows.size)
        self.n_given_ = int(len(y))
        self.dropped_ = dropped
        self.rows_ = rows
        self.fit_info_ = {
            "success": bool(res.success),
            "r2": float(res.r2),
            "n_starts": res.n_starts,
            "n_at_best": res.n_at_best,
            "at_bounds": list(res.at_bounds),
            "message": res.message,
        }
        self.boot_params_: np.ndarray | None = None
        self.ci_: dict[str, list[float]] = {}
        if self.n_bootstrap:
            self._bootstrap(Xf, yf)
        return self

    def _fit_arrays(
        self, Z: np.ndarray, y: np.ndarray, starts: np.ndarray, warn: bool = True
    ) -> FitResult:
        with np.errstate(over="ignore", invalid="ignore"):  # far-off trial steps overflow
            return fit_model(
                self._model(),
                Z,
                y,
                starts=starts,
                loss=self.loss,
                delta=self.delta,
                residual=self.residual,
                method="lbfgs",
                maxiter=self.maxiter,
                label=self.label,
                warn=warn,
            )

    def _bootstrap(self, X: np.ndarray, y: np.ndarray) -> None:
        """Refit on `n_bootstrap` resamples of the fitted points, from the optimum."""
        Z = self._design(X)
        start = np.array([[self.params_[n] for n in self.param_names]])

        def refit(idx: np.ndarray) -> np.ndarray:
            return self._fit_arrays(Z[idx], y[idx], start).params

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            samples = bootstrap_fits(refit, len(y), self.n_bootstrap, self.seed)
        self.boot_params_ = np.array(samples, dtype=float)
        self.ci_ = self.param_interval(self.level)

    def param_interval(self, level: float | None = None) -> dict[str, list[float]]:
        """Percentile interval of each parameter over the bootstrap refits."""
        self._check_fitted()
        if self.boot_params_ is None or len(self.boot_params_) == 0:
            raise InputError(f"{self.label}: no bootstrap refits; fit with n_bootstrap > 0")
        lo_hi = percentile_interval(self.boot_params_, self.level if level is None else level)
        return {n: [float(lo_hi[0, j]), float(lo_hi[1, j])] for j, n in enumerate(self.param_names)}

    def _theta(self, params: Mapping[str, float] | None = None) -> np.ndarray:
        params = self.params_ if params is None else params
        missing = [n for n in self.param_names if n not in params]
        if missing:
            raise InputError(f"{self.label}: parameter(s) {missing} missing")
        return np.array([float(params[n]) for n in self.param_names])

    def predict(self, X: Any) -> np.ndarray:
        """Predicted loss at each row of `X`, shape (n,)."""
        self._check_fitted()
        X = self._check_X(X)
        with np.errstate(over="ignore"):
            return self._f(self._theta(), self._design(X))

    def predict_interval(self, X: Any, level: float | None = None) -> np.ndarray:
        """Percentile interval of the bootstrap refits' predictions, shape (2, n)."""
        self._check_fitted()
        if self.boot_params_ is None or len(self.boot_params_) == 0:
            raise InputError(f"{self.label}: no bootstrap refits; fit with n_bootstrap > 0")
        Z = self._design(self._check_X(X))
        with np.errstate(over="ignore"):
            P = np.stack([self._f(th, Z) for th in self.boot_params_])
        return percentile_interval(P, self.level if level is None else level)

    def cost(self, X: Any, y: Any, params: Mapping[str, float] | None = None) -> float:
        """The robust objective (summed over every given row) at `params` or the fit."""
        if params is None:
            self._check_fitted()
        self._check_hyper()
        y = self._check_y(y)
        X = self._check_X(X, len(y))
        rho = make_loss(self.loss, self.delta)
        with np.errstate(all="ignore"):
            pred = self._f(self._theta(params), self._design(X))
            r = np.log(pred) - np.log(y) if self.residual == "log" else pred - y
        val = float(np.sum(rho.rho(r)))
        return val if np.isfinite(val) else float("inf")

    # ---- serialisation --------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to predict without the data, as JSON-able values."""
        self._check_fitted()
        return jsonable(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "kind": self.kind,
                "form": self.kind,
                "hyperparams": self.get_params(),
                "variables": list(self.variables),
                "params": self.params_,
                "ci": self.ci_,
                "level": self.level,
                "n_points": self.n_points_,
                "n_given": self.n_given_,
                "dropped": self.dropped_,
                "cost": self.cost_,
                "fit_info": self.fit_info_,
                "backtest": getattr(self, "backtest_", None),
                "bootstrap": None
                if self.boot_params_ is None
                else {
                    "n": int(len(self.boot_params_)),
                    "seed": self.seed,
                    "params": self.boot_params_,
                },
            }
        )

    @classmethod
    def _rebuild(cls, data: Mapping[str, Any]) -> ScalingLaw:
        law = cls(**data["hyperparams"])
        law.params_ = {n: float(data["params"][n]) for n in law.param_names}
        law.ci_ = {k: [float(v[0]), float(v[1])] for k, v in (data.get("ci") or {}).items()}
        law.n_points_ = int(data["n_points"])
        law.n_given_ = int(data.get("n_given", data["n_points"]))
        law.dropped_ = list(data.get("dropped") or [])
        law.cost_ = float(data["cost"] if "cost" in data else data["objective"])
        law.fit_info_ = dict(data.get("fit_info") or {})
        if data.get("backtest"):
            law.backtest_ = dict(data["backtest"])
        boot = data.get("bootstrap")
        law.boot_params_ = (
            None
            if not boot
            else np.asarray(boot["params"], float).reshape(-1, len(law.param_names))
        )
        return law


def scaling_law_from_dict(data: Mapping[str, Any]) -> ScalingLaw:
    """Rebuild any fitted scaling law from its dict, dispatching on `kind` (`form`)."""
    return _any_law_from_dict(data, family="scaling")


def make_scaling_law(form: str, **params: Any) -> ScalingLaw:
    """A scaling law by its form name ('step', 'size', 'chinchilla', 'overtrain')."""
    return make(form, "scaling", "scaling-law form", **params)
