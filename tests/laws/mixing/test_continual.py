import numpy as np
import pytest

from mixlab.errors import InputError
from mixlab.laws import ExpLaw, critical_share

C, K, T_ORIG, T_NEW = 2.0, 1.0, -1.5, 1.5


def two_domain_law() -> ExpLaw:
    p = np.linspace(0, 1, 21)
    R = np.column_stack([p, 1 - p])
    y = C + K * np.exp(T_ORIG * p + T_NEW * (1 - p))
    return ExpLaw(loss="squared").fit(
        R, y[:, None], domain_names=["orig", "new"], target_names=["orig_loss"]
    )


def analytic(threshold: float) -> float:
    # C + K exp(T_NEW + (T_ORIG - T_NEW) p) = threshold
    return (np.log((threshold - C) / K) - T_NEW) / (T_ORIG - T_NEW)


def test_absolute_bound_matches_closed_form():
    law = two_domain_law()
    level = C + K * np.exp(T_ORIG)  # the loss after training on the original data only
    res = critical_share(law, original="orig", level=level, bound=0.5)
    assert res.reachable
    assert res.share == pytest.approx(analytic(level + 0.5), abs=1e-6)
    assert res.loss_at_share == pytest.approx(level + 0.5, abs=1e-6)


def test_relative_bound_and_trivial_cases():
    law = two_domain_law()
    level = 3.0
    res = critical_share(law, original="orig", level=level, bound=0.1, relative=True)
    assert res.share == pytest.approx(analytic(3.3), abs=1e-6)
    assert critical_share(law, original="orig", level=10.0, bound=0.0).share == 0.0


def test_not_reachable_is_reported():
    law = two_domain_law()
    res = critical_share(law, original="orig", level=2.0, bound=0.1)
    assert not res.reachable and res.share is None
    assert res.message.startswith("not reachable")
    assert res.best_share == pytest.approx(1.0)


def test_bad_inputs():
    law = two_domain_law()
    with pytest.raises(InputError, match="original domain 'x'"):
        critical_share(law, original="x", level=3.0, bound=0.1)
    with pytest.raises(InputError, match="bound"):
        critical_share(law, original="orig", level=3.0, bound=-1)
