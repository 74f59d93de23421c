"""A recommended mixture written in the formats production trainers read.

- `json`: {"mixture": {domain: weight}, ...} with whatever the caller adds (predictions).
- `megatron`: the `--data-path` argument of Megatron-LM, `w1 prefix1 w2 prefix2 ...`.
- `olmo`: an OLMo-core style source mixture (YAML): `source_list.sources[]` with
  `source_name`, `target_ratio`, `paths`, `max_repetition_ratio`.
- `hf`: the `probabilities` list for `datasets.interleave_datasets`, with the dataset order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from mixlab.errors import InputError
from mixlab.mixture import check_mixture

FORMATS = ("json", "megatron", "olmo", "hf")


def format_mixture(
    mixture: Mapping[str, float],
    fmt: str = "json",
    *,
    paths: Mapping[str, str | list[str]] | None = None,
    max_epochs: Mapping[str, float] | None = None,
    requested_tokens: int | None = None,
    extra: Mapping[str, Any] | None = None,
    drop_zero: bool = True,
) -> str:
    """Render `mixture` (domain -> weight, summing to 1) in format `fmt`.

    `paths` maps a domain to its data prefix / files (default: the domain name);
    `max_epochs` bounds repetition per domain (OLMo's max_repetition_ratio);
    `extra` is merged into the JSON output (predicted losses, intervals, the law used).
    """
    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    mixture = check_mixture(mixture)
    weights = {d: w for d, w in mixture.items() if not (drop_zero and w == 0)}
    paths = dict(paths or {})
    unknown = sorted(set(paths) - set(mixture))
    if unknown:
        raise InputError(f"paths given for domain(s) not in the mixture: {', '.join(unknown)}")

    def files(domain: str) -> list[str]:
        p = paths.get(domain, domain)
        return [p] if isinstance(p, str) else list(p)

    if fmt == "json":
        return json.dumps({"mixture": weights, **(extra or {})}, indent=2) + "\n"
    if fmt == "megatron":
        parts = []
        for d, w in weights.items():
            for f in files(d):  # a domain of several prefixes splits its weight evenly
                parts += [repr(w / len(files(d))), f]
        return " ".join(parts) + "\n"
    if fmt == "olmo":
        sources = [
            {
                "source_name": d,
                "target_ratio": w,
                "paths": files(d),
                "max_repetition_ratio": float((max_epochs or {}).get(d, 1.0)),
            }
            for d, w in weights.items()
        ]
        doc: dict[str, Any] = {"source_list": {"sources": sources}}
        if requested_tokens is not None:
            doc["requested_tokens"] = int(requested_tokens)
        return yaml.safe_dump(doc, sort_keys=False)
    names = list(weights)
    return (
        json.dumps(
            {
                "datasets": [files(d) if d in paths else d for d in names],
                "probabilities": [weights[d] for d in names],
                "stopping_strategy": "all_exhausted",
            },
            indent=2,
        )
        + "\n"
    )
