"""Training dynamics: how fast a skill is acquired, whether a ranking transfers, compression.

* **Emergence** (DESIGN.md section 4, "Learning speed and emergence"): the first token count
  (or step) at which a skill's accuracy reaches a threshold, interpolated between the two
  evaluations that bracket the crossing; across seeds, the median with a bootstrap interval.
  Data choices are compared by speed (`speed_ratio`) and by the area under the accuracy
  curve, not only by final loss.
* **Rank agreement**: a data-engineering gain found at one model size may vanish at another,
  so the ranking of choices is compared across sizes by Kendall's tau-b, with an interval
  from resampling seeds.
* **Compression** (section 4, "Compression"): the prequential code length of a training
  stream (the area under the training-loss curve, in bits) against gzip, bz2 and xz.
* **Data scaling at fixed size**: a step law L(D) = E + B D^-a on one run's loss curve says
  whether more tokens would still help.

Pure numerics (numpy, scipy, pandas tables); no torch.  Modules: emergence.py, ranking.py,
compression.py, data_scaling.py, checks.py (their input checks); the three fits are
estimators (base.py: `EmergenceEstimator`, `RankAgreementEstimator`, `DataScalingEstimator`),
the functions of the same analyses return their `result_`.
"""

from mixlab.laws.dynamics.base import DynamicsEstimator
from mixlab.laws.dynamics.compression import (
    CompressionRow,
    baseline_bits_per_byte,
    bits_per_byte,
    code_length_bits,
    compression_table,
)
from mixlab.laws.dynamics.data_scaling import (
    DataScaling,
    DataScalingEstimator,
    data_scaling_at_fixed_size,
)
from mixlab.laws.dynamics.emergence import (
    Emergence,
    EmergenceEstimator,
    area_under_curve,
    emergence_across_seeds,
    emergence_point,
    speed_ratio,
)
from mixlab.laws.dynamics.ranking import (
    RankAgreement,
    RankAgreementEstimator,
    kendall_tau,
    rank_agreement,
)

__all__ = [
    "CompressionRow",
    "DataScaling",
    "DataScalingEstimator",
    "DynamicsEstimator",
    "Emergence",
    "EmergenceEstimator",
    "RankAgreement",
    "RankAgreementEstimator",
    "area_under_curve",
    "baseline_bits_per_byte",
    "bits_per_byte",
    "code_length_bits",
    "compression_table",
    "data_scaling_at_fixed_size",
    "emergence_across_seeds",
    "emergence_point",
    "kendall_tau",
    "rank_agreement",
    "speed_ratio",
]
