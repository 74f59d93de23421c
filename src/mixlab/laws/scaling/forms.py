"""Scaling laws: loss as a power law in training steps, model size, and size x data.

Forms (every constant positive, every exponent in [0, 5]):

* ``step``       L(S) = E + B * S^-a, one run's loss curve (S steps or tokens)
* ``size``       L(N) = E + A * N^-b
* ``chinchilla`` L(N, D) = E + A / N^alpha + B / D'^beta (Hoffmann et al. 2022), where D' = D,
  or with repeated data Muennighoff et al.'s (2023) effective data
  D' = U_D + U_D R* (1 - exp(-R / R*)), U_D = min(U, D) unique tokens seen, R = D / U_D - 1
* ``overtrain``  L(N, D) = E + (a M^eta + b M^-eta) C^-eta, C = 6 N D, M = D / N
  (Gadre et al. 2024); algebraically Chinchilla with alpha = beta = 2 eta.

Every law is fitted by the shared engine (:func:`~mixlab.laws.fitting.fit_model`) as
Hoffmann et al. and Besiroglu et al. do: a Huber loss (delta 1e-3) on log(pred) - log(obs),
summed over points, minimised by L-BFGS from a grid of starts.  All grid starts are scored
first and only the `n_refine` best are refined (`n_refine=None` refines every start); on
Epoch's Chinchilla data the best 10 already reach the full grid's optimum.  Intervals come
from refits on bootstrap resamples of the points, each started at the full-data optimum.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

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
    grid_starts,
    make_loss,
    screen_starts,
)

__all__ = [
    "EPOCH_GRID",
    "SCALING_FORMS",
    "ChinchillaLaw",
    "OvertrainLaw",
    "PowerLaw1D",
    "ScalingLaw",
    "SizeLaw",
    "StepLaw",
    "effective_data",
    "make_scaling_law",
    "scaling_law_from_dict",
    "screen_starts",
]

FORMAT = "mixlab.scaling_law"
FORMAT_VERSION = 1
EXPONENT_MAX = 5.0
SCALING_FORMS = FamilyKinds("scaling")

# Besiroglu et al.'s grid, in their log-space units: e = log E, a = log A, b = log B.
EPOCH_GRID: dict[str, tuple[float, ...]] = {
    "e": (-1.0, -0.5, 0.0, 0.5, 1.0),
    "a": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "b": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "alpha": (0.0, 0.5, 1.0, 1.5, 2.0),
    "beta": (0.0, 0.5, 1.0, 1.5, 2.0),
}
R_STAR_STARTS = (1.0, 5.0, 15.0, 50.0)
TWO_TERM_EXPONENTS = tuple(np.geomspace(0.03, 3.0, 14))


def effective_data(D: Any, U: Any, r_star: float) -> np.ndarray:
    """Muennighoff et al.'s effective tokens D' for D tokens drawn from U unique ones.

    D' = U_D + U_D R* (1 - exp(-R / R*)) with U_D = min(U, D) and R = D / U_D - 1 repeats:
    each further epoch is worth less, and D' never exceeds U_D (1 + R*).
    """
    D = np.asarray(D, dtype=float)
    U = np.asarray(U, dtype=float)
    ud = np.minimum(U, D)
    reps = D / ud - 1.0
    return ud + ud * r_star * -np.expm1(-reps / r_star)


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


# ---------------------------------------------------------------------------------------
# Two-term power laws in one variable: step and size


class PowerLaw1D(ScalingLaw):
    """One power law in one variable: L(x) = E + K * x^-k, fitted on Z = log x.

    The one form behind :class:`StepLaw` (x = steps) and :class:`SizeLaw` (x = parameters),
    which differ only in the variable's and the parameters' names (`variable`, `names`).
    """

    variable: ClassVar[str] = "x"
    names: ClassVar[tuple[str, str, str]] = ("E", "K", "k")

    @property
    def variables(self) -> tuple[str, ...]:
        return (self.variable,)

    def _specs(self) -> list[ParamSpec]:
        e, c, k = self.names
        return [
            ParamSpec(e, "log"),
            ParamSpec(c, "log"),
            ParamSpec(k, lower=0.0, upper=EXPONENT_MAX),
        ]

    def _f(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        return th[0] + th[1] * np.exp(-th[2] * Z[:, 0])

    def _jac(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        t = np.exp(-th[2] * Z[:, 0])
        return np.column_stack([np.ones_like(t), t, -th[1] * Z[:, 0] * t])

    def _raw_starts(self, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """For each exponent on a grid, E and K by least squares (variable projection)."""
        ymin = float(y.min())
        starts = []
        for k in TWO_TERM_EXPONENTS:
            t = np.exp(-k * (Z[:, 0] - Z[:, 0].max()))  # scaled to avoid overflow
            es = [0.5 * ymin, 0.9 * ymin]
            if np.ptp(t) > 0:
                icpt = np.polyfit(t, y, 1)[1]
                es.insert(0, float(np.clip(icpt, 1e-3 * ymin, 0.999 * ymin)))
            for e in es:
                kt = max(float(np.dot(y - e, t) / np.dot(t, t)), 1e-12)
                starts.append([e, kt * np.exp(k * Z[:, 0].max()), k])
        return np.array(starts)

    @property
    def exponent_(self) -> float:
        self._check_fitted()
        return float(self.params_[self.names[2]])


class StepLaw(PowerLaw1D):
    """Loss curve of one run: L(S) = E + B * S^-a (S steps, or tokens).

    Points before the warm-up ends are left out: those with S < max(min_step,
    min_fraction * largest S).  Other hyperparameters as :class:`PowerLaw1D`.
    """

    kind = "step"
    label = "step law"
    variable = "S"
    names = ("E", "B", "a")

    def __init__(self, min_step: float = 0.0, min_fraction: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_step = min_step
        self.min_fraction = min_fraction

    def _check_hyper(self) -> None:
        super()._check_hyper()
        if not (np.isfinite(self.min_step) and self.min_step >= 0):
            raise InputError(f"step law: min_step must be >= 0, got {self.min_step!r}")
        if not 0 <= self.min_fraction < 1:
            raise InputError(f"step law: min_fraction must be in [0, 1), got {self.min_fraction!r}")

    def warmup_end(self, S: Any) -> float:
        """The first step the fit uses on a curve with steps `S`."""
        return max(float(self.min_step), float(self.min_fraction) * float(np.max(S)))

    def _select_rows(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        return X[:, 0] >= self.warmup_end(X[:, 0])

    def fit(self, X: Any, y: Any, *, init: Mapping[str, float] | None = None) -> StepLaw:
        """Fit on steps `X` and losses `y`; points before the warm-up end (step 0 included)
        are left out before the positivity check, so a curve logged from step 0 fits."""
        try:
            S = (
                np.asarray(X["S"], float)
                if isinstance(X, Mapping) or hasattr(X, "columns")
                else np.asarray(X, float)
            ).ravel()
        except (TypeError, ValueError, KeyError, IndexError):
            return super().fit(X, y, init=init)  # the base class names the problem
        if np.isnan(S).any() or (S < 0).any():
            return super().fit(X, y, init=init)
        self._check_hyper()
        keep = np.flatnonzero((S > 0) & (S >= self.warmup_end(S)))
        y_all = np.asarray(y, dtype=float).ravel() if np.ndim(y) else y
        if keep.size == S.size or len(y_all) != S.size:
            return super().fit(X, y, init=init)
        super().fit(S[keep], y_all[keep], init=init)
        self.rows_ = keep[self.rows_]
        self.dropped_ = [int(keep[i]) for i in self.dropped_]
        self.n_given_ = int(S.size)
        return self


class SizeLaw(PowerLaw1D):
    """Loss against model size: L(N) = E + A * N^-b."""

    kind = "size"
    label = "size law"
    variable = "N"
    names = ("E", "A", "b")


# ---------------------------------------------------------------------------------------
# Laws in model size and data


class _NDLaw(ScalingLaw):
    """A law in N (parameters) and D (training tokens)."""

    def loss_at(self, N: Any, D: Any, U: Any = None) -> np.ndarray:
        """Predicted loss at broadcast arrays N, D (and unique tokens U, if the law uses them)."""
        self._check_fitted()
        arrays = [np.asarray(N, float), np.asarray(D, float)]
        if "U" in self.variables:
            arrays.append(np.full_like(arrays[1], np.inf) if U is None else np.asarray(U, float))
        b = np.broadcast_arrays(*arrays)
        shape = b[0].shape
        X = np.column_stack([a.ravel() for a in b])
        if np.any(~(X > 0)):
            raise InputError(f"{self.label}: {', '.join(self.variables)} must be positive numbers")
        with np.errstate(over="ignore"):
            return self._f(self._theta(), self._design(X)).reshape(shape)

    def chinchilla_params(self) -> dict[str, float] | None:
        """(E, A, B, alpha, beta) of the equivalent plain Chinchilla law, if there is one."""
        raise NotImplementedError


class ChinchillaLaw(_NDLaw):
    """L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022; Besiroglu et al. 2024).

    Fitted from Epoch's grid of starts (`grid`, in their log units e, a, b, alpha, beta).
    `drop_highest` leaves out the k highest-loss points.  `r_star` switches to effective
    data for repeated tokens: `None` (every token unique), a number (R* fixed; Muennighoff
    et al. fitted 15.4) or `"fit"`; the inputs then include `U`, the unique tokens.
    """

    kind = "chinchilla"
    label = "chinchilla law"

    def __init__(
        self,
        r_star: float | str | None = None,
        grid: Mapping[str, Sequence[float]] | None = None,
        n_refine: int | None = 32,
        **kwargs: Any,
    ) -> None:
        super().__init__(n_refine=n_refine, **kwargs)
        self.r_star = r_star
        self.grid = grid

    @property
    def _repeats(self) -> str | None:
        """None, 'fixed' or 'fit'."""
        if self.r_star is None:
            return None
        if self.r_star == "fit":
            return "fit"
        try:
            r = float(self.r_star)
        except (TypeError, ValueError):
            raise InputError(
                f"chinchilla law: r_star must be None, 'fit' or a positive number, "
                f"got {self.r_star!r}"
            ) from None
        if not (np.isfinite(r) and r > 0):
            raise InputError(f"chinchilla law: r_star must be positive, got {self.r_star!r}")
        return "fixed"

    @property
    def variables(self) -> tuple[str, ...]:
        return ("N", "D") if self._repeats is None else ("N", "D", "U")

    def _specs(self) -> list[ParamSpec]:
        specs = [
            ParamSpec("E", "log"),
            ParamSpec("A", "log"),
            ParamSpec("B", "log"),
            ParamSpec("alpha", lower=0.0, upper=EXPONENT_MAX),
            ParamSpec("beta", lower=0.0, upper=EXPONENT_MAX),
        ]
        if self._repeats == "fit":
            specs.append(ParamSpec("r_star", "log", 1e-3, 1e6))
        return specs

    def _design(self, X: np.ndarray) -> np.ndarray:
        # [log N, log D] or, with repeats, [log N, D, U]
        if self._repeats is None:
            return np.log(X)
        return np.column_stack([np.log(X[:, 0]), X[:, 1], X[:, 2]])

    def _r_star(self, th: np.ndarray) -> float:
        return float(th[5]) if self._repeats == "fit" else float(self.r_star)

    def _log_d(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        if self._repeats is None:
            return Z[:, 1]
        return np.log(effective_data(Z[:, 1], Z[:, 2], self._r_star(th)))

    def _f(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        return (
            th[0] + th[1] * np.exp(-th[3] * Z[:, 0]) + th[2] * np.exp(-th[4] * self._log_d(th, Z))
        )

    def _jac(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        ln, ld = Z[:, 0], self._log_d(th, Z)
        tn, td = np.exp(-th[3] * ln), np.exp(-th[4] * ld)
        cols = [np.ones_like(tn), tn, td, -th[1] * ln * tn, -th[2] * ld * td]
        if self._repeats == "fit":
            D, U, r = Z[:, 1], Z[:, 2], th[5]
            ud = np.minimum(U, D)
            q = (D / ud - 1.0) / r
            dDeff = ud * (-np.expm1(-q) - q * np.exp(-q))
            cols.append(-th[4] * th[2] * td / np.exp(ld) * dDeff)
        return np.column_stack(cols)

    def _raw_starts(self, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
        g = {**EPOCH_GRID, **(self.grid or {})}
        unknown = [k for k in g if k not in EPOCH_GRID]
        if unknown:
            raise InputError(
                f"chinchilla law: grid has unknown key(s) {unknown}; use {sorted(EPOCH_GRID)}"
            )
        ext = {
            "E": np.exp(g["e"]),
            "A": np.exp(g["a"]),
            "B": np.exp(g["b"]),
            "alpha": g["alpha"],
            "beta": g["beta"],
        }
        if self._repeats == "fit":
            ext["r_star"] = R_STAR_STARTS
        return grid_starts(self._model(), ext)

    def chinchilla_params(self) -> dict[str, float] | None:
        self._check_fitted()
        if self._repeats is not None:
            return None
        return {k: self.params_[k] for k in ("E", "A", "B", "alpha", "beta")}


class OvertrainLaw(_NDLaw):
    """Over-training law (Gadre et al. 2024): L = E + (a M^eta + b M^-eta) C^-eta.

    C = 6 N D is the compute and M = D / N the tokens per parameter; at fixed M the loss is
    a power law in C with the same exponent.  Equal to Chinchilla with A = a 6^-eta,
    B = b 6^-eta and alpha = beta = 2 eta.
    """

    kind = "overtrain"
    label = "overtrain law"

    def __init__(self, n_refine: int | None = 16, **kwargs: Any) -> None:
        super().__init__(n_refine=n_refine, **kwargs)

    @property
    def variables(self) -> tuple[str, ...]:
        return ("N", "D")

    def _specs(self) -> list[ParamSpec]:
        return [
            ParamSpec("E", "log"),
            ParamSpec("a", "log"),
            ParamSpec("b", "log"),
            ParamSpec("eta", lower=0.0, upper=EXPONENT_MAX),
        ]

    def _design(self, X: np.ndarray) -> np.ndarray:
        ln, ld = np.log(X[:, 0]), np.log(X[:, 1])
        return np.column_stack([np.log(6.0) + ln + ld, ld - ln])  # log C, log M

    def _f(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        E, a, b, eta = th
        return E + a * np.exp(eta * (Z[:, 1] - Z[:, 0])) + b * np.exp(-eta * (Z[:, 1] + Z[:, 0]))

    def _jac(self, th: np.ndarray, Z: np.ndarray) -> np.ndarray:
        E, a, b, eta = th
        u, v = Z[:, 1] - Z[:, 0], -(Z[:, 1] + Z[:, 0])
        t1, t2 = np.exp(eta * u), np.exp(eta * v)
        return np.column_stack([np.ones_like(t1), t1, t2, a * u * t1 + b * v * t2])

    def _raw_starts(self, Z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """For each eta on a grid, E, a, b by non-negative least squares."""
        from scipy.optimize import nnls

        ymin = float(y.min())
        starts = []
        for eta in np.geomspace(0.02, 1.5, 16):
            u, v = Z[:, 1] - Z[:, 0], -(Z[:, 1] + Z[:, 0])
            su, sv = u.max(), v.max()
            F = np.column_stack([np.ones_like(u), np.exp(eta * (u - su)), np.exp(eta * (v - sv))])
            coef = nnls(F, y)[0]
            e0 = float(np.clip(coef[0], 1e-3 * ymin, 0.999 * ymin))
            for e in (e0, 0.5 * ymin):
                c = nnls(F[:, 1:], y - e)[0]
                a = max(float(c[0]), 1e-12) * np.exp(-eta * su)
                b = max(float(c[1]), 1e-12) * np.exp(-eta * sv)
                starts.append([e, a, b, eta])
        return np.array(starts)

    def chinchilla_params(self) -> dict[str, float] | None:
        self._check_fitted()
        p = self.params_
        s = 6.0 ** -p["eta"]
        return {
            "E": p["E"],
            "A": p["a"] * s,
            "B": p["b"] * s,
            "alpha": 2 * p["eta"],
            "beta": 2 * p["eta"],
        }


# the schedule-aware step law registers itself in SCALING_FORMS (it builds on this module)
from mixlab.laws.scaling import schedule as _schedule  # noqa: E402, F401
