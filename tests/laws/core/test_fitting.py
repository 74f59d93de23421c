import numpy as np
import pytest

from mixlab.errors import InputError
from mixlab.laws import (
    CurveModel,
    FitWarning,
    Huber,
    ParamSpec,
    Squared,
    fit_model,
    grid_starts,
)


def chinchilla_model() -> CurveModel:
    def predict(th, X):
        E, A, B, a, b = th
        return E + A * X[:, 0] ** -a + B * X[:, 1] ** -b

    def jac(th, X):
        E, A, B, a, b = th
        n_a, d_b = X[:, 0] ** -a, X[:, 1] ** -b
        return np.column_stack(
            [np.ones(len(X)), n_a, d_b, -A * n_a * np.log(X[:, 0]), -B * d_b * np.log(X[:, 1])]
        )

    params = [
        ParamSpec("E", "log"),
        ParamSpec("A", "log"),
        ParamSpec("B", "log"),
        ParamSpec("alpha", lower=0.0, upper=2.0),
        ParamSpec("beta", lower=0.0, upper=2.0),
    ]
    return CurveModel(params, predict, jac)


def test_huber_matches_definition():
    h = Huber(0.5)
    r = np.array([-2.0, -0.5, 0.1, 3.0])
    np.testing.assert_allclose(h.rho(r), [0.5 * (2 - 0.25), 0.125, 0.005, 0.5 * (3 - 0.25)])
    np.testing.assert_allclose(h.psi(r), [-0.5, -0.5, 0.1, 0.5])
    z = r**2
    # least_squares form: rho(z) = 2 * huber(sqrt z) up to the factor 1/2 used throughout
    np.testing.assert_allclose(h.ls_loss(z)[0], h.rho(r))
    with pytest.raises(InputError, match="delta"):
        Huber(-1.0)


def test_chinchilla_fit_in_a_few_lines_recovers_parameters(rng):
    model = chinchilla_model()
    N = 10 ** rng.uniform(7, 10, 150)
    D = 10 ** rng.uniform(9, 12, 150)
    X = np.column_stack([N, D])
    truth = np.array([1.8, 480.0, 2000.0, 0.35, 0.37])
    y = model.predict(truth, X) * np.exp(rng.normal(0, 1e-3, 150))
    starts = grid_starts(
        model,
        {
            "E": [1.0, 2.0],
            "A": [100.0, 1000.0],
            "B": [100.0, 5000.0],
            "alpha": [0.2, 0.5],
            "beta": [0.2, 0.5],
        },
    )
    res = fit_model(model, X, y, starts=starts, loss=Huber(1e-3), residual="log", method="lbfgs")
    assert res.n_starts == 32
    np.testing.assert_allclose(res.params[[0, 3, 4]], truth[[0, 3, 4]], rtol=0.05)
    assert res.r2 > 0.99


@pytest.mark.parametrize("method", ["lbfgs", "trf"])
def test_methods_agree_and_are_deterministic(rng, method):
    model = CurveModel(
        [ParamSpec("a"), ParamSpec("b", "log")], lambda th, X: th[0] + th[1] * X[:, 0]
    )
    X = rng.uniform(0, 1, (40, 1))
    y = 1.0 + 3.0 * X[:, 0] + rng.normal(0, 0.01, 40)
    starts = np.column_stack([np.linspace(-1, 1, 5), np.geomspace(0.1, 10, 5)])
    r1 = fit_model(model, X, y, starts=starts, method=method, loss=Squared())
    r2 = fit_model(model, X, y, starts=starts, method=method, loss=Squared())
    np.testing.assert_array_equal(r1.params, r2.params)
    np.testing.assert_allclose(r1.params, [1.0, 3.0], atol=0.02)


def test_warns_when_stopped_early_or_underdetermined(rng):
    model = chinchilla_model()
    X = np.column_stack([10 ** rng.uniform(7, 10, 30), 10 ** rng.uniform(9, 12, 30)])
    y = model.predict(np.array([1.8, 480.0, 2000.0, 0.35, 0.37]), X)
    start = np.array([[5.0, 1.0, 1.0, 1.5, 1.5]])
    with pytest.warns(FitWarning, match="stopped before converging"):
        fit_model(model, X, y, starts=start, residual="log", maxiter=3)
    with pytest.warns(FitWarning, match="3 rows for 5 parameters"):
        fit_model(model, X[:3], y[:3], starts=start, residual="log")


def test_bad_input_is_named():
    model = CurveModel([ParamSpec("a")], lambda th, X: th[0] + 0 * X[:, 0])
    X = np.zeros((3, 1))
    with pytest.raises(InputError, match="NaN"):
        fit_model(model, X, np.array([1.0, np.nan, 2.0]), starts=[[0.0]])
    with pytest.raises(InputError, match="starts"):
        fit_model(model, X, np.ones(3), starts=[[0.0, 1.0]])
    with pytest.raises(InputError, match="no start values"):
        grid_starts(model, {})
