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
from itertools import product

import numpy as np

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

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
CITIES = (
    "Amsterdam",
    "Athens",
    "Auckland",
    "Austin",
    "Baltimore",
    "Bangkok",
    "Barcelona",
    "Beijing",
    "Belgrade",
    "Berlin",
    "Bogota",
    "Boston",
    "Brisbane",
    "Brussels",
    "Bucharest",
    "Budapest",
    "Buenos Aires",
    "Cairo",
    "Calgary",
    "Cape Town",
    "Chicago",
    "Copenhagen",
    "Dallas",
    "Delhi",
    "Denver",
    "Detroit",
    "Dublin",
    "Edinburgh",
    "Florence",
    "Geneva",
    "Glasgow",
    "Hamburg",
    "Hanoi",
    "Helsinki",
    "Houston",
    "Istanbul",
    "Jakarta",
    "Kyoto",
    "Lagos",
    "Lima",
    "Lisbon",
    "Liverpool",
    "London",
    "Los Angeles",
    "Lyon",
    "Madrid",
    "Manchester",
    "Manila",
    "Marseille",
    "Melbourne",
    "Mexico City",
    "Miami",
    "Milan",
    "Montreal",
    "Moscow",
    "Mumbai",
    "Munich",
    "Nairobi",
    "Naples",
    "New Orleans",
    "New York",
    "Osaka",
    "Oslo",
    "Ottawa",
    "Paris",
    "Philadelphia",
    "Phoenix",
    "Portland",
    "Porto",
    "Prague",
    "Quebec",
    "Reykjavik",
    "Riga",
    "Rio de Janeiro",
    "Rome",
    "Rotterdam",
    "San Diego",
    "San Francisco",
    "Santiago",
    "Sao Paulo",
    "Seattle",
    "Seoul",
    "Seville",
    "Shanghai",
    "Singapore",
    "Sofia",
    "Stockholm",
    "Sydney",
    "Taipei",
    "Tallinn",
    "Tokyo",
    "Toronto",
    "Turin",
    "Valencia",
    "Vancouver",
    "Venice",
    "Vienna",
    "Vilnius",
    "Warsaw",
    "Zurich",
)
UNIVERSITY_PATTERNS = (
    "University of {c}",
    "{c} State University",
    "{c} Institute of Technology",
    "{c} Polytechnic",
    "Royal College of {c}",
)
MAJORS = (
    "Accounting",
    "Aerospace Engineering",
    "Anthropology",
    "Applied Mathematics",
    "Archaeology",
    "Architecture",
    "Art History",
    "Astronomy",
    "Biochemistry",
    "Biology",
    "Business Analytics",
    "Chemical Engineering",
    "Chemistry",
    "Civil Engineering",
    "Classics",
    "Cognitive Science",
    "Communications",
    "Computer Science",
    "Criminology",
    "Dance",
    "Data Science",
    "Economics",
    "Education",
    "Electrical Engineering",
    "English Literature",
    "Environmental Science",
    "Film Studies",
    "Finance",
    "Geography",
    "Geology",
    "Graphic Design",
    "History",
    "Industrial Design",
    "Journalism",
    "Law",
    "Linguistics",
    "Marine Biology",
    "Marketing",
    "Materials Science",
    "Mathematics",
    "Mechanical Engineering",
    "Medicine",
    "Music",
    "Neuroscience",
    "Nursing",
    "Oceanography",
    "Pharmacology",
    "Philosophy",
    "Physics",
    "Political Science",
    "Psychology",
    "Public Health",
    "Sociology",
    "Statistics",
    "Theatre",
    "Urban Planning",
    "Veterinary Science",
    "Zoology",
)
COMPANY_SUFFIXES = (
    "Systems",
    "Labs",
    "Industries",
    "Group",
    "Holdings",
    "Motors",
    "Foods",
    "Bank",
    "Energy",
    "Media",
    "Pharma",
    "Logistics",
    "Software",
    "Airlines",
    "Insurance",
)
ONSETS = (
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "w",
    "z",
    "br",
    "ch",
    "cl",
    "dr",
    "fl",
    "gr",
    "kr",
    "pr",
    "sh",
    "st",
    "th",
    "tr",
)
VOWELS = ("a", "e", "i", "o", "u", "ia", "ou", "ei")
CODAS = ("", "n", "r", "l", "s", "th", "m", "x")
WORLD_SEED = 20250524  # the name and value lists are part of the world, not of a run


def _name_words(count: int, syllables: int, rng: random.Random) -> list[str]:
    """Distinct capitalised words built from syllables."""
    space = [ONSETS, VOWELS] * syllables + [CODAS]
    words: set[str] = set()
    while len(words) < count:
        words.add("".join(rng.choice(part) for part in space).capitalize())
    return sorted(words)


@dataclass(frozen=True)
class World:
    """The lists names and attribute values are drawn from."""

    first: tuple[str, ...]
    middle: tuple[str, ...]
    last: tuple[str, ...]
    values: dict[str, tuple[str, ...]]


def make_world() -> World:
    """The fixed lists: 1,000 first, 1,000 middle, 2,000 last names (2e9 full names)."""
    rng = random.Random(WORLD_SEED)
    first = _name_words(1000, 2, rng)
    middle = _name_words(1000, 2, rng)
    last = _name_words(2000, 3, rng)
    companies = _name_words(60, 2, rng)
    dates = tuple(f"{m} {d}, {y}" for y in range(1940, 2000) for m in MONTHS for d in range(1, 29))
    values = {
        "birth_date": dates,
        "birth_city": CITIES,
        "university": tuple(p.format(c=c) for p, c in product(UNIVERSITY_PATTERNS, CITIES)),
        "major": MAJORS,
        "employer": tuple(f"{w} {s}" for w, s in product(companies, COMPANY_SUFFIXES)),
    }
    return World(tuple(first), tuple(middle), tuple(last), values)


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
