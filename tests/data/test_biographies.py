"""Biographies: unique names, fresh renderings, probes answerable from the text, never ambiguous."""

from __future__ import annotations

from collections import Counter

import numpy as np

from mixlab.data.biographies import (
    ATTRIBUTES,
    N_TEMPLATES,
    biography_documents,
    biography_probes,
    check_templates,
    fact_tuples,
    make_people,
    popularity_exposures,
    render_biography,
    subsample_people,
)
from mixlab.data.probes import Probe, assert_unambiguous


def test_hundred_thousand_unique_people() -> None:
    people = make_people(100_000, seed=1)
    assert len({p.name for p in people}) == 100_000
    assert make_people(50, seed=1) != make_people(50, seed=2)
    assert make_people(50, seed=1) == make_people(50, seed=1)


def test_no_template_prompt_is_a_prefix_of_another() -> None:
    check_templates()


def test_probes_are_answerable_from_the_text_and_unambiguous() -> None:
    people = make_people(60, seed=3)
    text = "\n".join(biography_documents(people, exposures=5, seed=3))
    text += "\n" + "\n".join(fact_tuples(people))
    probes = biography_probes(people, templates=range(N_TEMPLATES), tuples=True)
    assert len(probes) == 60 * len(ATTRIBUTES) * (N_TEMPLATES + 1)
    assert_unambiguous(probes)
    for probe in probes:
        occurrences = text.count(probe.prompt)
        assert occurrences >= 1, probe.prompt
        assert text.count(probe.prompt + probe.target) == occurrences, probe.prompt


def test_every_exposure_is_a_fresh_rendering() -> None:
    person = make_people(1, seed=4)[0]
    renderings = [render_biography(person, e, seed=4) for e in range(10)]
    assert len(set(renderings)) == 10
    for attribute, value in ((a, person.attribute(a)) for a in ATTRIBUTES):
        assert all(value in r for r in renderings), attribute
    # each cycle of five exposures uses each template of an attribute once
    starts = Counter(r.split(person.name)[1][:12] for r in renderings[:5])
    assert len(starts) >= 2
    docs = list(biography_documents(make_people(30, seed=4), exposures=3, seed=4))
    assert docs == list(biography_documents(make_people(30, seed=4), exposures=3, seed=4))
    assert len(docs) == 90


def test_popularity_and_subsampling() -> None:
    group, exposures = popularity_exposures(1000, groups=4, max_exposures=64, alpha=1.0, seed=0)
    assert np.bincount(group).tolist() == [250] * 4
    assert sorted(set(exposures.tolist()), reverse=True) == [64, 32, 21, 16]
    people = make_people(100, seed=0)
    docs = list(biography_documents(people, exposures.tolist()[:100], seed=0))
    assert len(docs) == int(exposures[:100].sum())
    half = subsample_people(people, 0.5, seed=0)
    assert len(half) == 50 and [p.index for p in half] == sorted(p.index for p in half)


def test_probe_judging() -> None:
    probe = Probe("Ann Bo Cy was born in", "Paris", " Paris", "biography")
    assert probe.is_correct(" Paris.") and probe.is_correct(" Paris")
    assert not probe.is_correct(" Parisville.") and not probe.is_correct("Paris.")
