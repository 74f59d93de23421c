"""When a run evaluates: every N steps, every N tokens, or log-spaced points (the default).

Step laws (L = E + B * S^-a) fit a curve in log steps after the warm-up, so points spaced
evenly in log tokens from the warm-up's end to the end carry the same information per
evaluation wherever they fall; a fixed cadence spends most evaluations on the flat tail.
"""

from __future__ import annotations

import math

import numpy as np


def evaluation_steps(
    total_steps: int,
    tokens_per_step: int,
    *,
    every: int | None = None,
    every_tokens: int | None = None,
    points: int = 8,
    warmup_steps: int = 0,
) -> set[int]:
    """The steps after which a run evaluates; always step 0 (before training) and the end.

    `every` (steps) wins over `every_tokens`; with neither, `points` log-spaced in tokens
    from the first step after the warm-up (at least step 1) to the end.
    """
    steps = {0, total_steps}
    if every is not None:
        steps.update(range(every, total_steps, every))
    elif every_tokens is not None:
        # the first step at or past each multiple of every_tokens
        n = total_steps * tokens_per_step // every_tokens
        steps.update(math.ceil(k * every_tokens / tokens_per_step) for k in range(1, n + 1))
    elif points > 0:
        first = min(max(1, warmup_steps), total_steps)
        spaced = np.geomspace(first, total_steps, points) if points > 1 else [total_steps]
        steps.update(int(round(s)) for s in spaced)
    return {s for s in steps if 0 <= s <= total_steps}
