"""Synthetic biographies (Allen-Zhu & Li; Gu et al. 2025): facts a model can learn or not.

N people with unique three-part names and five attributes. Each exposure renders every
attribute with one of five sentence templates and shuffles the sentence order, so the same
facts appear in fresh wording each time. Every template starts with the full name and no
template's text before the value is a prefix of another's, so a prompt such as
"Kalo Venri Dusark was born in" is followed by exactly one value anywhere in the corpus.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from mixlab.data.biography_world import make_world
from mixlab.data.probes import Probe, assert_unambiguous

ATTRIBUTES = ("birth_date", "birth_city", "university", "major", "employer")
ATTRIBUTE_LABELS = {
    "birth_date": "birth date",
    "birth_city": "birth city",
    "university": "university",
    "major": "major",
    "employer": "employer",
}
TEMPLATES: dict[str, tuple[str, ...]] = {
    "birth_date": (
        "{name} was born on {value}.",
        "{name} came into this world on {value}.",
        "{name}'s birthday is {value}.",
        "{name} celebrates a birthday on {value}.",
        "{name} first drew breath on {value}.",
    ),
    "birth_city": (
        "{name} was born in {value}.",
        "{name} spent the early years of life in {value}.",
        "{name}'s birthplace is {value}.",
        "{name} hails from {value}.",
        "{name} came into the world in {value}.",
    ),
    "university": (
        "{name} studied at {value}.",
        "{name} graduated from {value}.",
        "{name} received an education at {value}.",
        "{name} completed a degree at {value}.",
        "{name} was a student at {value}.",
    ),
    "major": (
        "{name} majored in {value}.",
        "{name} focused on {value} as a field of study.",
        "{name} specialized in {value}.",
        "{name} chose {value} as a major.",
        "{name} pursued a degree in {value}.",
    ),
    "employer": (
        "{name} worked for {value}.",
        "{name} was employed by {value}.",
        "{name} had a job at {value}.",
        "{name} took a position at {value}.",
        "{name} earned a living at {value}.",
    ),
}
N_TEMPLATES = 5


@dataclass(frozen=True)
class Person:
    """One synthetic person: a unique name and five attribute values."""

    index: int
    name: str
    birth_date: str
    birth_city: str
    university: str
    major: str
    employer: str

    def attribute(self, attribute: str) -> str:
        return str(getattr(self, attribute))


def make_people(n: int, seed: int = 0) -> list[Person]:
    """N people with unique full names and attributes drawn uniformly, deterministic in seed."""
    world = make_world()
    capacity = len(world.first) * len(world.middle) * len(world.last)
    if not 0 < n <= capacity // 10:
        raise ValueError(f"n must be between 1 and {capacity // 10:,}")
    rng = np.random.default_rng([seed, 1])
    seen: set[tuple[int, int, int]] = set()
    triples: list[tuple[int, int, int]] = []
    while len(triples) < n:
        draw = np.stack(
            [
                rng.integers(0, len(world.first), n),
                rng.integers(0, len(world.middle), n),
                rng.integers(0, len(world.last), n),
            ],
            axis=1,
        ).tolist()
        for t in draw:
            key = (t[0], t[1], t[2])
            if key not in seen:
                seen.add(key)
                triples.append(key)
                if len(triples) == n:
                    break
    picks = {a: rng.integers(0, len(world.values[a]), n).tolist() for a in ATTRIBUTES}
    people = [
        Person(
            index=i,
            name=f"{world.first[f]} {world.middle[m]} {world.last[last]}",
            **{a: world.values[a][picks[a][i]] for a in ATTRIBUTES},
        )
        for i, (f, m, last) in enumerate(triples)
    ]
    if len({p.name for p in people}) != n:  # the triples are unique, so this is a bug
        raise RuntimeError("synthetic biographies: full names are not unique")
    return people


def subsample_people(people: Sequence[Person], fraction: float, seed: int = 0) -> list[Person]:
    """A seeded subset of about `fraction` of the people, in their original order."""
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    k = max(1, round(fraction * len(people)))
    keep = np.sort(np.random.default_rng([seed, 2]).choice(len(people), k, replace=False))
    return [people[i] for i in keep.tolist()]


def popularity_exposures(
    n_people: int, groups: int = 4, max_exposures: int = 64, alpha: float = 1.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Power-law exposure counts: group g (0 = most popular) gets max_exposures / (g+1)^alpha.

    People are assigned to groups evenly in a seeded order. Returns (group, exposures) per person.
    """
    order = np.random.default_rng([seed, 3]).permutation(n_people)
    group = np.empty(n_people, dtype=np.int64)
    group[order] = np.arange(n_people) % groups
    per_group = np.maximum(1, np.round(max_exposures / (np.arange(groups) + 1.0) ** alpha))
    return group, per_group.astype(np.int64)[group]


def _template_choice(seed: int, person: int, exposure: int) -> list[int]:
    """Template per attribute for one exposure: each cycle of five exposures uses all five."""
    cycle, position = divmod(exposure, N_TEMPLATES)
    deck = random.Random(f"{seed}:{person}:{cycle}")
    out = []
    for _ in ATTRIBUTES:
        order = list(range(N_TEMPLATES))
        deck.shuffle(order)
        out.append(order[position])
    return out


def render_biography(person: Person, exposure: int, seed: int = 0) -> str:
    """One rendering: a template per attribute (redrawn per exposure), sentences shuffled."""
    choice = _template_choice(seed, person.index, exposure)
    sentences = [
        TEMPLATES[a][t].format(name=person.name, value=person.attribute(a))
        for a, t in zip(ATTRIBUTES, choice, strict=True)
    ]
    random.Random(f"{seed}:{person.index}:order:{exposure}").shuffle(sentences)
    return " ".join(sentences)


# Compact renderings: the name once, then the five facts as labelled fields in a fresh order
# at every exposure ("Kalo Venri Dusark; city: Paris; born: May 3, 1950; ...").  About half
# the tokens of a five-sentence biography (which repeats the name in every sentence), so a
# CPU budget buys twice the exposures per person.
COMPACT_LABELS = {
    "birth_date": "born",
    "birth_city": "city",
    "university": "school",
    "major": "major",
    "employer": "work",
}


def render_compact(person: Person, exposure: int, seed: int = 0) -> str:
    """One compact rendering: name, then the labelled facts shuffled per exposure."""
    order = list(ATTRIBUTES)
    random.Random(f"{seed}:{person.index}:compact:{exposure}").shuffle(order)
    fields = "; ".join(f"{COMPACT_LABELS[a]}: {person.attribute(a)}" for a in order)
    return f"{person.name}; {fields}."


def compact_probes(people: Sequence[Person]) -> list[Probe]:
    """One probe per fact in the compact form: "Name; city:" -> " Paris"."""
    probes = [
        Probe(
            f"{person.name}; {COMPACT_LABELS[a]}:",
            person.attribute(a),
            " " + person.attribute(a),
            "biography_compact",
            meta={"person": person.index, "attribute": a, "template": -2},
        )
        for person in people
        for a in ATTRIBUTES
    ]
    assert_unambiguous(probes)
    return probes


def biography_documents(
    people: Sequence[Person],
    exposures: int | Sequence[int] = 1,
    seed: int = 0,
    compact: bool = False,
) -> Iterator[str]:
    """Every person rendered `exposures` times (one count, or one per person), in seeded order.

    With five or more exposures each person appears under every template of every attribute.
    """
    counts = (
        np.full(len(people), exposures, dtype=np.int64)
        if isinstance(exposures, int)
        else np.asarray(exposures, dtype=np.int64)
    )
    if counts.size != len(people):
        raise ValueError("exposures needs one count per person")
    owners = np.repeat(np.arange(len(people)), counts)
    nth = np.arange(owners.size) - np.repeat(np.cumsum(counts) - counts, counts)
    order = np.random.default_rng([seed, 4]).permutation(owners.size)
    render = render_compact if compact else render_biography
    for k in order.tolist():
        yield render(people[owners[k]], int(nth[k]), seed)


def fact_tuples(people: Sequence[Person]) -> Iterator[str]:
    """Compact facts, one document per person: "Name | birth city | Paris" lines."""
    for person in people:
        yield "\n".join(
            f"{person.name} | {ATTRIBUTE_LABELS[a]} | {person.attribute(a)}" for a in ATTRIBUTES
        )


def template_prefix(attribute: str, template: int) -> str:
    """The template's text between the name and the value, e.g. " was born in"."""
    text = TEMPLATES[attribute][template]
    return text[len("{name}") : text.index("{value}")].rstrip(" ")


def biography_probes(
    people: Sequence[Person], templates: Sequence[int] = (0,), tuples: bool = False
) -> list[Probe]:
    """For each person and attribute: prompt = name + template text, answer = the value.

    `templates` picks which sentence forms to probe; `tuples` adds the compact-tuple form.
    """
    probes = []
    for person in people:
        for a in ATTRIBUTES:
            value = person.attribute(a)
            meta = {"person": person.index, "attribute": a}
            for t in templates:
                probes.append(
                    Probe(
                        person.name + template_prefix(a, t),
                        value,
                        " " + value,
                        "biography",
                        meta={**meta, "template": t},
                    )
                )
            if tuples:
                probes.append(
                    Probe(
                        f"{person.name} | {ATTRIBUTE_LABELS[a]} |",
                        value,
                        " " + value,
                        "biography_tuple",
                        meta={**meta, "template": -1},
                    )
                )
    assert_unambiguous(probes)
    return probes


def check_templates() -> None:
    """No template's prompt text may be a prefix of another's (else a prompt has two answers)."""
    prefixes = [(a, t, template_prefix(a, t)) for a in ATTRIBUTES for t in range(N_TEMPLATES)]
    for a1, t1, p1 in prefixes:
        for a2, t2, p2 in prefixes:
            if (a1, t1) != (a2, t2) and p2.startswith(p1):
                raise AssertionError(f"template {a1}[{t1}] {p1!r} is a prefix of {a2}[{t2}] {p2!r}")
