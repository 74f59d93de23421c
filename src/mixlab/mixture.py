"""The one mixture rule: weights are finite, non-negative and sum to 1 within a tolerance.

Every layer that accepts a mixture (the run record, the mixture tables, the schedules, the
exports, the laws) checks it here, so the tolerance, the renormalisation and the message
are the same everywhere.  Like `errors`, this module imports nothing from the package.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from mixlab.errors import InputError

__all__ = ["WEIGHT_TOLERANCE", "check_mixture", "sum_error"]

WEIGHT_TOLERANCE = 1e-6
"""How far from 1 the weights of a mixture may sum (DESIGN.md, the mixture table)."""


def sum_error(total: float, where: str = "mixture", hint: str = "") -> str:
    """The message for weights that do not sum to 1 (`hint`: how to fix it)."""
    return f"{where}: weights sum to {total:.9g}, not 1 (tolerance {WEIGHT_TOLERANCE:g}){hint}"


def check_mixture(
    weights: Mapping[str, float], *, renormalize: bool = False, where: str = "mixture"
) -> dict[str, float]:
    """`weights` (domain -> weight) checked, or rescaled to sum to 1 when `renormalize`.

    InputError (a ValueError, so pydantic validators may raise it) names the domain.
    """
    if not weights:
        raise InputError(f"{where} names no domain")
    weights = dict(weights)
    for name, w in weights.items():
        try:
            weights[name] = float(w)
        except (TypeError, ValueError):
            raise InputError(f"{where}: weight of {name!r} is {w!r}, not a number") from None
        if not (math.isfinite(weights[name]) and weights[name] >= 0):
            raise InputError(
                f"{where}: weight of {name!r} is {w!r}; weights must be finite and >= 0"
            )
    total = math.fsum(weights.values())
    if renormalize:
        if total <= 0:
            raise InputError(f"{where}: all weights are 0, cannot renormalise")
        return {name: w / total for name, w in weights.items()}
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise InputError(sum_error(total, where))
    return weights
