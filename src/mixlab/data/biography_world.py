"""The synthetic biographies' world: the fixed lists names and attribute values are drawn from
(months, cities, universities, majors, companies, name syllables), built by `make_world` from
its own seed, so that they are part of the world and not of a run."""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import product

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
