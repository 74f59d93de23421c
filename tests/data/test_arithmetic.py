"""Arithmetic: every format's working and final answer are correct; train and test are disjoint."""

from __future__ import annotations

import re

import pytest

from mixlab.data.arithmetic import (
    FORMATS,
    Problem,
    arithmetic_documents,
    arithmetic_probes,
    make_problem_split,
    make_problems,
    render_problem,
)

STEP = re.compile(r"(?<![\d+\-*])(\d[\d+\-*]*)=(\d+)")


def evaluate(expression: str) -> int:
    assert re.fullmatch(r"[\d+\-*]+", expression), expression
    return int(eval(expression))  # digits and + - * only, checked above


@pytest.mark.parametrize("digits", [1, 2, 3])
@pytest.mark.parametrize("op", ["+", "-", "*"])
def test_all_formats_are_correct(digits: int, op: str) -> None:
    for problem in make_problems(50, digits=digits, ops=(op,), seed=digits):
        assert problem.result >= 0
        for fmt in FORMATS:
            line = render_problem(problem, fmt)
            assert line.startswith(problem.prompt) and "\n" not in line
            assert line.rsplit("=", 1)[1] == str(problem.result), line
            if fmt == "cot":
                assert all(evaluate(part) == problem.result for part in line.split("=")), line
            if fmt == "scratchpad":
                working = line[len(problem.prompt) :]
                steps = STEP.findall(working)
                assert steps, line
                for expression, value in steps:
                    assert evaluate(expression) == int(value), (line, expression)


def test_known_renderings() -> None:
    p = Problem(47, "+", 35)
    assert render_problem(p, "plain") == "47+35=82"
    assert render_problem(p, "cot") == "47+35=47+30+5=77+5=82"
    assert render_problem(p, "scratchpad") == (
        "47+35= 7+5+0=12 write 2 carry 1; 4+3+1=8 write 8 carry 0; result=82"
    )
    assert render_problem(Problem(82, "-", 35), "scratchpad").startswith("82-35= 12-5-0=7 borrow 1")


def test_split_has_no_shared_or_commuted_problems() -> None:
    train, test = make_problem_split(3000, 500, digits=2, ops=("+", "-", "*"), seed=0)
    keys = {p.key for p in train}
    assert len(keys) == 3000 and not keys & {p.key for p in test}
    assert not {(p.b, p.op, p.a) for p in train if p.op in "+*"} & {(p.a, p.op, p.b) for p in test}
    with pytest.raises(ValueError, match="distinct"):
        make_problems(56, digits=1, ops=("+",))


@pytest.mark.parametrize("fmt", FORMATS)
def test_probes_and_documents(fmt: str) -> None:
    problems = make_problems(40, digits=2, ops=("+", "*"), seed=1)
    text = "\n".join(arithmetic_documents(problems, fmt, per_document=7, seed=1))
    assert len(text.split("\n")) == 40
    for probe in arithmetic_probes(problems, fmt):
        assert ("\n" + probe.prompt + probe.target + "\n") in ("\n" + text + "\n")
        assert probe.is_correct(probe.target)
        assert probe.is_correct(probe.target + "\n12+1=13")
        assert not probe.is_correct(probe.target + "0")
