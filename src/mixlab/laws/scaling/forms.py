"""The scaling forms under their old module name: re-exports of base.py, power.py and
chinchilla.py, so that existing imports (and the registry's family import) keep working."""

from mixlab.laws.core.fitting import screen_starts
from mixlab.laws.scaling.base import (
    EXPONENT_MAX,
    FORMAT,
    FORMAT_VERSION,
    SCALING_FORMS,
    ScalingLaw,
    make_scaling_law,
    scaling_law_from_dict,
)
from mixlab.laws.scaling.chinchilla import (
    EPOCH_GRID,
    R_STAR_STARTS,
    ChinchillaLaw,
    OvertrainLaw,
    effective_data,
)
from mixlab.laws.scaling.power import TWO_TERM_EXPONENTS, PowerLaw1D, SizeLaw, StepLaw

__all__ = [
    "EPOCH_GRID",
    "EXPONENT_MAX",
    "FORMAT",
    "FORMAT_VERSION",
    "R_STAR_STARTS",
    "SCALING_FORMS",
    "TWO_TERM_EXPONENTS",
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
