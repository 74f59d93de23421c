"""Scaling laws: loss as a power law in training steps, model size, and size x data.

Forms (every constant positive, every exponent in [0, 5]):

* ``step``       L(S) = E + B * S^-a, one run's loss curve (S steps or tokens)
* ``size``       L(N) = E + A * N^-b
* ``chinchilla`` L(N, D) = E + A / N^alpha + B / D'^beta (Hoffmann et al. 2022), where D' = D,
  or with repeated data Muennighoff et al.'s (2023) effective data
  D' = U_D + U_D R* (1 - exp(-R / R*)), U_D = min(U, D) unique tokens seen, R = D / U_D - 1
* ``overtrain``  L(N, D) = E + (a M^eta + b M^-eta) C^-eta, C = 6 N D, M = D / N
  (Gadre et al. 2024); algebraically Chinchilla with alpha = beta = 2 eta.

Every law is fitted by the shared engine with a robust loss on log residuals, from a grid
of starts, with bootstrap intervals (how, in base.py).

Modules: base.py (the `ScalingLaw` base, the form registry view, from_dict), power.py
(step, size), chinchilla.py (chinchilla, overtrain), schedule.py (schedule-aware step law),
allocation.py, backtest.py, nested.py; forms.py re-exports the first three under their old
module name.
"""

from mixlab.laws.scaling.base import (
    SCALING_FORMS,
    ScalingLaw,
    make_scaling_law,
    scaling_law_from_dict,
)
from mixlab.laws.scaling.chinchilla import ChinchillaLaw, OvertrainLaw, effective_data
from mixlab.laws.scaling.power import PowerLaw1D, SizeLaw, StepLaw
from mixlab.laws.scaling.schedule import ScheduleStepLaw  # registers the "schedule" form

__all__ = [
    "SCALING_FORMS",
    "ChinchillaLaw",
    "OvertrainLaw",
    "PowerLaw1D",
    "ScalingLaw",
    "ScheduleStepLaw",
    "SizeLaw",
    "StepLaw",
    "effective_data",
    "make_scaling_law",
    "scaling_law_from_dict",
]
