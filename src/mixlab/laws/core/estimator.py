"""One estimator protocol for every law, one registry of law kinds, one result base.

Modelled on scikit-learn's ``base.py``: hyperparameters are the constructor arguments, kept
as plain attributes (so `get_params`, `clone` and `__repr__` read them off the signature);
what `fit` learns ends with an underscore; `fit(...)` returns self; using an unfitted law
raises a clear `InputError`.  Every concrete law names its `kind` and `family`, which
registers it in `REGISTRY`; the CLI's lists of kinds and every `from_dict` dispatch read
that one registry.  Results (fits of one-off analyses, allocations, optima) derive from
:class:`Result`, whose `to_dict` is the one JSON-able view of a result.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np

from mixlab.errors import InputError

__all__ = [
    "DEFAULT_LEVEL",
    "REGISTRY",
    "Estimator",
    "FamilyKinds",
    "Result",
    "jsonable",
    "finite_or_none",
    "kinds",
    "law_from_dict",
    "make",
]

DEFAULT_LEVEL = 0.9
"""The central interval level every law, bootstrap and report uses unless told otherwise."""

REGISTRY: dict[str, type[Estimator]] = {}
"""Every concrete law class, keyed by its `kind` (unique across families)."""


def jsonable(x: Any) -> Any:
    """`x` with numpy arrays and scalars turned into lists and Python numbers, keys into str."""
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, Result):
        return x.to_dict()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    return x


def finite_or_none(v: Any) -> float | None:
    """A float, or None for a missing or non-finite value (strict JSON has no NaN)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


class Estimator:
    """Base of every law: parameters from `__init__`, `clone`, `__repr__`, a fitted check.

    Subclasses set `kind` (registry key), `family` ('mixing', 'scaling', 'phase',
    'dynamics'), `label` (how error messages name the law) and `fitted_attr` (an attribute
    that exists only after `fit`).
    """

    kind: ClassVar[str] = ""
    family: ClassVar[str] = ""
    label: ClassVar[str] = ""
    fitted_attr: ClassVar[str] = "params_"
    format: ClassVar[str] = "mixlab.law"  # the `format` field of its JSON

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("kind"):
            REGISTRY[cls.kind] = cls

    @classmethod
    def _param_names(cls) -> list[str]:
        """Constructor argument names; an `__init__` taking ``**kwargs`` adds its parent's."""
        names: list[str] = []
        for klass in cls.__mro__:
            if "__init__" not in klass.__dict__:
                continue
            params = inspect.signature(klass.__init__).parameters.values()
            names += [
                p.name
                for p in params
                if p.name != "self"
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                and p.name not in names
            ]
            if not any(p.kind is p.VAR_KEYWORD for p in params):
                break
        return names

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as currently set."""
        return {name: getattr(self, name) for name in self._param_names()}

    def clone(self, **overrides: Any) -> Any:
        """An unfitted copy with the same hyperparameters (some replaced by `overrides`)."""
        unknown = [k for k in overrides if k not in self._param_names()]
        if unknown:
            raise InputError(f"{self._name()}: unknown hyperparameter(s) {unknown}")
        return type(self)(**{**self.get_params(), **overrides})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _name(self) -> str:
        return self.label or type(self).__name__

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, self.fitted_attr)

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise InputError(f"this {type(self).__name__} is not fitted yet; call fit first")

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to predict without the data, as JSON-able values."""
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """Rebuild a fitted law of this class (or a subclass) from its `to_dict` output."""
        law = law_from_dict(data, family=cls.family or None)
        if not isinstance(law, cls):
            raise InputError(f"fitted law: kind {law.kind!r} is not a {cls.__name__}")
        return law

    @classmethod
    def _rebuild(cls, data: Mapping[str, Any]) -> Any:
        """The fitted law of `data` (a dict of this kind); KeyError/TypeError/ValueError
        on a malformed field.  Families define it."""
        raise NotImplementedError(f"{cls.__name__} cannot be loaded from a dict")


class FamilyKinds(Mapping[str, type[Estimator]]):
    """A live, read-only view of the registry restricted to one family (kind -> class)."""

    def __init__(self, family: str) -> None:
        self.family = family

    def __getitem__(self, kind: str) -> type[Estimator]:
        cls = REGISTRY.get(kind)
        if cls is None or cls.family != self.family:
            raise KeyError(kind)
        return cls

    def __iter__(self) -> Iterator[str]:
        return iter(kinds(self.family))

    def __len__(self) -> int:
        return len(kinds(self.family))

    def __repr__(self) -> str:
        return f"FamilyKinds({self.family!r}: {kinds(self.family)})"


def _import_families() -> None:
    """Import every law family, so that each registers its kinds (lazily: no cycles)."""
    import mixlab.laws.dynamics  # noqa: F401
    import mixlab.laws.mixing.explicit  # noqa: F401
    import mixlab.laws.mixing.regression  # noqa: F401
    import mixlab.laws.phase.capacity  # noqa: F401
    import mixlab.laws.phase.size_transition  # noqa: F401
    import mixlab.laws.phase.transition  # noqa: F401
    import mixlab.laws.scaling.constrained  # noqa: F401
    import mixlab.laws.scaling.forms  # noqa: F401
    import mixlab.laws.scaling.nested  # noqa: F401


def kinds(family: str | None = None) -> list[str]:
    """Sorted registered kinds, of one family or of all."""
    _import_families()
    return sorted(k for k, c in REGISTRY.items() if family is None or c.family == family)


def make(kind: str, family: str | None = None, what: str = "law kind", **params: Any) -> Any:
    """An unfitted law by kind and hyperparameters; InputError naming the known kinds."""
    known = kinds(family)
    if kind not in known:
        raise InputError(f"unknown {what} {kind!r}; known: {known}")
    try:
        return REGISTRY[kind](**params)
    except TypeError as exc:
        raise InputError(f"{what.split()[0]} {kind!r}: {exc}") from None


def law_from_dict(data: Any, family: str | None = None) -> Any:
    """Rebuild any fitted law (of `family`, if given) from its dict, by `format` and `kind`.

    Scaling laws written before the registry carry `form` instead of `kind`; both load.
    """
    _import_families()
    formats = sorted({c.format for c in REGISTRY.values() if family in (None, c.family)})
    fmt = data.get("format") if isinstance(data, Mapping) else None
    if fmt not in formats:
        what = f"{family} law" if family == "scaling" else "law"
        raise InputError(f"not a fitted mixlab {what} (expected format {' or '.join(formats)})")
    if data.get("version") != 1:
        raise InputError(f"fitted law: unsupported version {data.get('version')!r}")
    kind = data.get("kind", data.get("form"))
    known = [k for k in kinds(family) if REGISTRY[k].format == fmt]
    if kind not in known:
        raise InputError(f"fitted law: unknown kind {kind!r}; known: {known}")
    try:
        return REGISTRY[kind]._rebuild(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"fitted law ({kind}): malformed field ({exc!r})") from None


class Result:
    """Base of result dataclasses: `to_dict` holds every field shown in the repr.

    A field declared with ``repr=False`` (bootstrap samples, the law a result came from) is
    derivable or bulky and stays out; `_extra` adds derived values worth printing.
    """

    strict_json: ClassVar[bool] = False  # NaN and infinities become None

    def _extra(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        fields = dataclasses.fields(self)  # type: ignore[arg-type]
        out = jsonable(
            {**{f.name: getattr(self, f.name) for f in fields if f.repr}, **self._extra()}
        )
        return _strict(out) if self.strict_json else out


def _strict(x: Any) -> Any:
    if isinstance(x, float):
        return finite_or_none(x)
    if isinstance(x, dict):
        return {k: _strict(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_strict(v) for v in x]
    return x
