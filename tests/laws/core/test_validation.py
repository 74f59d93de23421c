import warnings

import numpy as np
import pandas as pd
import pytest

from mixlab.errors import InputError
from mixlab.laws import ExpLaw, FitWarning, ImplicitLaw, LinearLaw

from ..conftest import DOMAINS, exp_truth


def test_nan_names_row_and_column(mixtures):
    Y = exp_truth(mixtures)
    Y[7, 1] = np.nan
    with pytest.raises(InputError, match=r"row 7 \(run id 'r7'\), column 'b'"):
        ExpLaw().fit(mixtures, Y, target_names=["a", "b"], run_ids=[f"r{i}" for i in range(len(Y))])
    R = mixtures.copy()
    R[3, 2] = np.nan
    with pytest.raises(InputError, match="row 3, domain 'books'"):
        LinearLaw().fit(R, exp_truth(mixtures), domain_names=DOMAINS)


def test_weights_not_summing_to_one(mixtures):
    R = mixtures.copy()
    R[5] *= 0.97
    with pytest.raises(InputError, match="row 5: weights sum to 0.97"):
        LinearLaw().fit(R, exp_truth(mixtures))
    law = LinearLaw().fit(R, exp_truth(mixtures), renormalize=True)
    assert law.n_runs_ == len(R)
    with pytest.raises(InputError, match="negative"):
        LinearLaw().fit(-R, exp_truth(mixtures))


def test_mismatched_shapes(mixtures):
    with pytest.raises(InputError, match="rows but the mixtures have"):
        LinearLaw().fit(mixtures, exp_truth(mixtures)[:-1])
    with pytest.raises(InputError, match="names given for 4 columns"):
        LinearLaw().fit(mixtures, exp_truth(mixtures), domain_names=["a", "b"])
    with pytest.raises(InputError, match="3 ids given"):
        LinearLaw().fit(mixtures, exp_truth(mixtures), run_ids=[1, 2, 3])
    law = LinearLaw().fit(mixtures, exp_truth(mixtures), domain_names=DOMAINS)
    with pytest.raises(InputError, match="expected 4 domain columns"):
        law.predict(np.ones((2, 3)) / 3)
    with pytest.raises(InputError, match="not fitted"):
        LinearLaw().predict(mixtures)


def test_dataframe_columns_are_matched_by_name(mixtures):
    frame = pd.DataFrame(mixtures, columns=DOMAINS)
    law = LinearLaw().fit(frame, pd.DataFrame(exp_truth(mixtures), columns=["a", "b"]))
    assert law.domain_names_ == DOMAINS and law.target_names_ == ["a", "b"]
    shuffled = frame[DOMAINS[::-1]]
    np.testing.assert_array_equal(law.predict(shuffled), law.predict(mixtures))
    with pytest.raises(InputError, match="missing domain"):
        law.predict(frame.drop(columns="code"))


def test_unused_domain_warns_and_is_held_fixed(mixtures):
    R = np.column_stack([mixtures, np.zeros(len(mixtures))])
    with pytest.warns(FitWarning, match="domain 'unused' has weight 0 in every run"):
        law = ExpLaw().fit(R, exp_truth(mixtures), domain_names=DOMAINS + ["unused"])
    assert np.all(law.t_[:, :, 4] == 0)
    assert not law.active_[4]


def test_constant_target_and_too_few_runs(mixtures):
    Y = exp_truth(mixtures)
    Y[:, 1] = 3.0
    with pytest.warns(FitWarning, match="target 'b' is constant"):
        LinearLaw().fit(mixtures, Y, target_names=["a", "b"])
    with pytest.warns(FitWarning, match="4 rows for 5 parameters"):
        ExpLaw().fit(mixtures[:4], exp_truth(mixtures[:4])[:, :1])
    with pytest.warns(FitWarning, match="underdetermined"):
        ImplicitLaw(n_hidden=3, n_starts=1, alpha=0.0).fit(
            mixtures[:8], exp_truth(mixtures[:8])[:, :1]
        )
    with pytest.raises(InputError, match="at least 2 runs"):
        LinearLaw().fit(mixtures[:1], Y[:1])
    same = np.tile(mixtures[:1], (5, 1))
    with pytest.raises(InputError, match="same mixture"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)
            LinearLaw().fit(same, Y[:5])


def test_bad_weights_and_hyperparameters(mixtures):
    Y = exp_truth(mixtures)
    with pytest.raises(InputError, match=r"metric\(s\) \['c'\]"):
        ExpLaw().fit(mixtures, Y, target_names=["a", "b"], weights={"c": 1.0})
    with pytest.raises(InputError, match="every weight is zero"):
        ExpLaw().fit(mixtures, Y, target_names=["a", "b"], weights={"a": 0.0})
    with pytest.raises(InputError, match="features"):
        ExpLaw(features="cubic").fit(mixtures, Y)
    with pytest.raises(InputError, match="weighted"):
        LinearLaw(weighted="sum").fit(mixtures, Y, weights={"target0": 1.0})
