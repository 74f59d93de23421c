import json
import warnings

import numpy as np
import pytest

from mixlab.errors import InputError
from mixlab.io.laws import load_law, save_law
from mixlab.laws import (
    ExpLaw,
    FitWarning,
    ImplicitLaw,
    LGBMLaw,
    LinearLaw,
    law_from_dict,
)

from ..conftest import DOMAINS, exp_truth

LAWS = [
    ExpLaw(),
    ExpLaw(features="linear+log"),
    ImplicitLaw(n_hidden=2, n_starts=1),
    LinearLaw(),
    LinearLaw(features="log"),
    LGBMLaw(n_estimators=60, learning_rate=0.1),
]


@pytest.mark.parametrize("law", LAWS, ids=lambda law: f"{law.kind}")
def test_load_save_predicts_identically(tmp_path, mixtures, rng, law):
    Y = exp_truth(mixtures) + rng.normal(0, 1e-3, (len(mixtures), 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        law.fit(
            mixtures,
            Y,
            target_names=["a", "b"],
            domain_names=DOMAINS,
            run_ids=[f"run-{i}" for i in range(len(Y))],
        )
    path = save_law(law, tmp_path / "law.json")
    back = load_law(path)
    fresh = rng.dirichlet(np.ones(4), 30)
    np.testing.assert_array_equal(back.predict(fresh), law.predict(fresh))
    assert type(back) is type(law) and back.get_params() == law.get_params()
    data = json.loads(path.read_text())
    assert data["kind"] == law.kind and data["domain_names"] == DOMAINS
    assert data["target_names"] == ["a", "b"] and data["run_ids"][0] == "run-0"
    assert "params" in data


def test_cv_is_stored(mixtures):
    from mixlab.laws import fit_with_cv

    law, report = fit_with_cv(
        LinearLaw(), mixtures, exp_truth(mixtures), n_splits=3, target_names=["a", "b"]
    )
    assert set(law.to_dict()["cv"]["targets"]) == {"a", "b"}
    assert report.mae_mean.shape == (2,)


def test_load_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_law(bad)
    bad.write_text(json.dumps({"format": "mixlab.law", "version": 1, "kind": "cubic"}))
    with pytest.raises(InputError, match="unknown kind 'cubic'"):
        load_law(bad)
    with pytest.raises(InputError, match="no such file"):
        load_law(tmp_path / "missing.json")
    with pytest.raises(InputError, match="not a fitted mixlab law"):
        law_from_dict({"kind": "exp"})
