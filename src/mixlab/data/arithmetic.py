"""Synthetic arithmetic in three formats, for data-format and curriculum experiments.

Every problem line starts with its prompt "a op b=" and ends with the result after the last
"=": `plain` gives the result at once (12+35=47); `cot` a short chain of place-value steps
(47+35=47+30+5=77+5=82); `scratchpad` works digit by digit with carries and borrows
(47+35= 7+5+0=12 write 2 carry 1; 4+3+1=8 write 8 carry 0; result=82).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from mixlab.data.probes import Probe

Format = Literal["plain", "cot", "scratchpad"]
FORMATS: tuple[Format, ...] = ("plain", "cot", "scratchpad")
OPERATIONS = ("+", "-", "*")


@dataclass(frozen=True)
class Problem:
    """a op b, with a >= b for subtraction so results are never negative."""

    a: int
    op: str
    b: int

    @property
    def result(self) -> int:
        if self.op == "+":
            return self.a + self.b
        if self.op == "-":
            return self.a - self.b
        return self.a * self.b

    @property
    def key(self) -> tuple[int, str, int]:
        """Identity for train/test disjointness: 3+5 and 5+3 count as the same problem."""
        if self.op in "+*":
            return (min(self.a, self.b), self.op, max(self.a, self.b))
        return (self.a, self.op, self.b)

    @property
    def prompt(self) -> str:
        return f"{self.a}{self.op}{self.b}="


def _operand_range(digits: int) -> tuple[int, int]:
    return (0 if digits == 1 else 10 ** (digits - 1), 10**digits)


def problem_space(digits: int, ops: Sequence[str]) -> int:
    """How many distinct problems (by `key`) exist for these digits and operations."""
    lo, hi = _operand_range(digits)
    m = hi - lo
    return len(set(ops)) * m * (m + 1) // 2  # unordered pairs, or a >= b for subtraction


def _enumerate_problems(digits: int, ops: Sequence[str]) -> list[Problem]:
    lo, hi = _operand_range(digits)
    return [
        Problem(b, op, a)
        for op in dict.fromkeys(ops)
        for b in range(lo, hi)
        for a in range(lo, b + 1)
    ]


def make_problems(
    n: int, digits: int = 2, ops: Sequence[str] = ("+",), seed: int = 0
) -> list[Problem]:
    """N distinct problems with `digits`-digit operands and operations drawn uniformly."""
    bad = [op for op in ops if op not in OPERATIONS]
    if bad or not ops:
        raise ValueError(f"operations must be among {OPERATIONS}, got {list(ops)}")
    if digits < 1:
        raise ValueError("digits must be >= 1")
    space = problem_space(digits, ops)
    if n > space:
        raise ValueError(f"{n} problems asked but only {space} distinct ones exist")
    rng = np.random.default_rng([seed, 5])
    if n > space // 2:  # dense: pick from the full list rather than rejecting duplicates
        everything = _enumerate_problems(digits, ops)
        picked = [everything[i] for i in rng.choice(len(everything), n, replace=False).tolist()]
        swap = rng.random(n) < 0.5
        return [
            Problem(p.b, p.op, p.a) if s and p.op in "+*" else p
            for p, s in zip(picked, swap.tolist(), strict=True)
        ]
    lo, hi = _operand_range(digits)
    seen: set[tuple[int, str, int]] = set()
    out: list[Problem] = []
    while len(out) < n:
        a = rng.integers(lo, hi, n).tolist()
        b = rng.integers(lo, hi, n).tolist()
        o = rng.integers(0, len(ops), n).tolist()
        for x, y, k in zip(a, b, o, strict=True):
            op = ops[k]
            if op == "-" and x < y:
                x, y = y, x
            problem = Problem(x, op, y)
            if problem.key not in seen:
                seen.add(problem.key)
                out.append(problem)
                if len(out) == n:
                    break
    return out


def make_problem_split(
    n_train: int, n_test: int, digits: int = 2, ops: Sequence[str] = ("+",), seed: int = 0
) -> tuple[list[Problem], list[Problem]]:
    """Disjoint train and test problems (no problem, nor its commuted twin, in both)."""
    problems = make_problems(n_train + n_test, digits, ops, seed)
    return problems[:n_train], problems[n_train:]


def _place_parts(x: int) -> list[int]:
    """47 -> [40, 7]; zeros dropped; 0 -> [0]."""
    digits = str(x)
    parts = [int(d) * 10 ** (len(digits) - 1 - i) for i, d in enumerate(digits) if d != "0"]
    return parts or [0]


def _fold(first: int, op: str, rest: list[int]) -> list[str]:
    """Expressions left to right: 47+30+5, 77+5, 82."""
    steps = []
    acc = first
    while True:
        steps.append(op.join([str(acc), *map(str, rest)]) if rest else str(acc))
        if not rest:
            return steps
        acc = acc + rest[0] if op == "+" else acc - rest[0]
        rest = rest[1:]


def _cot(p: Problem) -> str:
    if p.op in "+-":
        steps = _fold(p.a, p.op, _place_parts(p.b))
    else:
        parts = _place_parts(p.b)
        products = [p.a * q for q in parts]
        steps = ["+".join(f"{p.a}*{q}" for q in parts)] + _fold(products[0], "+", products[1:])
    chain = [s for i, s in enumerate(steps) if i == 0 or s != steps[i - 1]]
    if chain[0] == f"{p.a}{p.op}{p.b}":
        chain = chain[1:]
    return "=".join(chain)


def _digits_low_first(x: int, width: int) -> list[int]:
    return [int(d) for d in reversed(str(x).rjust(width, "0"))]


def _scratch_add(p: Problem) -> list[str]:
    width = max(len(str(p.a)), len(str(p.b)))
    steps, carry = [], 0
    for x, y in zip(_digits_low_first(p.a, width), _digits_low_first(p.b, width), strict=True):
        s = x + y + carry
        steps.append(f"{x}+{y}+{carry}={s} write {s % 10} carry {s // 10}")
        carry = s // 10
    return steps


def _scratch_sub(p: Problem) -> list[str]:
    width = len(str(p.a))
    steps, borrow = [], 0
    for x, y in zip(_digits_low_first(p.a, width), _digits_low_first(p.b, width), strict=True):
        d = x - y - borrow
        if d < 0:
            steps.append(f"1{x}-{y}-{borrow}={d + 10} borrow 1")
            borrow = 1
        else:
            steps.append(f"{x}-{y}-{borrow}={d} borrow 0")
            borrow = 0
    return steps


def _scratch_mul(p: Problem) -> list[str]:
    steps, partials = [], []
    for shift, y in enumerate(_digits_low_first(p.b, len(str(p.b)))):
        carry = 0
        digits_a = _digits_low_first(p.a, len(str(p.a)))
        for i, x in enumerate(digits_a):
            s = x * y + carry
            if i == len(digits_a) - 1:
                steps.append(f"{x}*{y}+{carry}={s} write {s}")
            else:
                steps.append(f"{x}*{y}+{carry}={s} write {s % 10} carry {s // 10}")
                carry = s // 10
        partial = p.a * y
        partials.append(partial * 10**shift)
        steps.append(
            f"partial {partial} shifted {partial * 10**shift}" if shift else f"partial {partial}"
        )
    total = partials[0]
    for nxt in partials[1:]:
        steps.append(f"{total}+{nxt}={total + nxt}")
        total += nxt
    return steps


def render_problem(p: Problem, fmt: Format) -> str:
    """The full line: prompt, working (by format), final result after the last '='."""
    if fmt == "plain":
        return f"{p.prompt}{p.result}"
    if fmt == "cot":
        return f"{p.prompt}{_cot(p)}"
    if fmt == "scratchpad":
        steps = {"+": _scratch_add, "-": _scratch_sub, "*": _scratch_mul}[p.op](p)
        return f"{p.prompt} " + "; ".join(steps) + f"; result={p.result}"
    raise ValueError(f"unknown format {fmt!r}; choose one of {FORMATS}")


def arithmetic_documents(
    problems: Sequence[Problem], fmt: Format, per_document: int = 8, seed: int = 0
) -> Iterator[str]:
    """Problems in seeded order, `per_document` lines per document."""
    order = np.random.default_rng([seed, 6]).permutation(len(problems)).tolist()
    for start in range(0, len(order), per_document):
        yield "\n".join(
            render_problem(problems[i], fmt) for i in order[start : start + per_document]
        )


def arithmetic_probes(problems: Sequence[Problem], fmt: Format) -> list[Probe]:
    """Prompt "a op b=", the exact result, judged after the last '=' of the first line."""
    probes = []
    for p in problems:
        line = render_problem(p, fmt)
        probes.append(
            Probe(
                p.prompt,
                str(p.result),
                line[len(p.prompt) :],
                f"arithmetic_{fmt}",
                answer_marker="=",
                meta={"a": p.a, "op": p.op, "b": p.b},
            )
        )
    return probes
