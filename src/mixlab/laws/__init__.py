"""Scientific core: functional forms, robust fitting, evaluation, design and optimisation.

Pure numerics on arrays (numpy, scipy, lightgbm); no torch and no file I/O (law files are
read and written by :mod:`mixlab.io.laws`). Families: core/ (fitting engine, bootstrap,
checks), mixing/, scaling/, phase/, dynamics/.
"""

from mixlab.laws.core.bootstrap import bootstrap_fits, bootstrap_indices, percentile_interval
from mixlab.laws.core.estimator import DEFAULT_LEVEL, Estimator, Result, kinds, make
from mixlab.laws.core.fitting import (
    CurveModel,
    FitResult,
    FitWarning,
    Huber,
    ParamSpec,
    Squared,
    fit_model,
    grid_starts,
)
from mixlab.laws.mixing.base import LAW_KINDS, MixingLaw, law_from_dict
from mixlab.laws.mixing.bootstrap import BootstrapResult, bootstrap_law
from mixlab.laws.mixing.continual import CriticalShare, critical_share
from mixlab.laws.mixing.crossval import (
    CVReport,
    cross_validate,
    fit_with_cv,
    kfold_splits,
    loo_splits,
    score_predictions,
    shuffle_splits,
    spearman,
)
from mixlab.laws.mixing.design import (
    check_prior,
    dirichlet_design,
    round_mixtures,
    simplex_grid,
    validate_mixture_list,
)
from mixlab.laws.mixing.explicit import ExpLaw, ImplicitLaw
from mixlab.laws.mixing.optimize import (
    MixtureConstraints,
    OptimizationResult,
    optimize_mixture,
    project_to_box_simplex,
)
from mixlab.laws.mixing.power_sum import PowerSumLaw
from mixlab.laws.mixing.regression import LGBMLaw, LinearLaw
from mixlab.laws.mixing.selection import AutoLaw, MeanLaw


def make_law(kind: str, **params: object) -> MixingLaw:
    """A law by its kind name ('auto', 'exp', 'implicit', 'linear', 'lgbm', 'power') and
    hyperparameters."""
    return make(kind, "mixing", **params)


__all__ = [
    "DEFAULT_LEVEL",
    "LAW_KINDS",
    "AutoLaw",
    "BootstrapResult",
    "Estimator",
    "Result",
    "kinds",
    "CVReport",
    "CriticalShare",
    "CurveModel",
    "ExpLaw",
    "FitResult",
    "FitWarning",
    "Huber",
    "ImplicitLaw",
    "LGBMLaw",
    "LinearLaw",
    "MeanLaw",
    "MixingLaw",
    "MixtureConstraints",
    "OptimizationResult",
    "ParamSpec",
    "PowerSumLaw",
    "Squared",
    "bootstrap_fits",
    "bootstrap_indices",
    "bootstrap_law",
    "check_prior",
    "critical_share",
    "cross_validate",
    "dirichlet_design",
    "fit_model",
    "fit_with_cv",
    "grid_starts",
    "kfold_splits",
    "law_from_dict",
    "loo_splits",
    "make_law",
    "optimize_mixture",
    "percentile_interval",
    "project_to_box_simplex",
    "round_mixtures",
    "score_predictions",
    "shuffle_splits",
    "simplex_grid",
    "spearman",
    "validate_mixture_list",
]
