"""The BPE training sample: an equal byte budget from every domain, drawn uniformly.

Within a domain each document gets a seeded pseudo-random priority and the lowest
priorities are kept until the domain's budget is filled (a bottom-k sample by bytes), so the
sample does not depend on file order beyond document identity and is the same every run.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Mapping, Sequence

from mixlab.data.sources import InputFile, read_documents


def _priority(seed: int, domain: str, index: int) -> int:
    key = f"{seed}\0{domain}\0{index}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")


def draw_domain_sample(
    name: str, files: Sequence[InputFile], budget_bytes: int, seed: int
) -> list[str]:
    """Documents of one domain (each cut to 1/8 of the budget) adding up to about the budget."""
    max_doc_chars = max(1024, budget_bytes // 8)
    heap: list[tuple[int, int, str, int]] = []  # (-priority, index, text, bytes): a max-heap
    total = 0
    index = 0
    for f in files:
        for doc in read_documents(f):
            text = doc[:max_doc_chars]
            size = len(text.encode("utf-8"))
            heapq.heappush(heap, (-_priority(seed, name, index), index, text, size))
            total += size
            while total - heap[0][3] >= budget_bytes:
                total -= heapq.heappop(heap)[3]
            index += 1
    kept = sorted(heap, key=lambda item: -item[0])
    return [text for _, _, text, _ in kept]


def draw_training_sample(
    domain_files: Mapping[str, Sequence[InputFile]],
    sample_bytes: int,
    seed: int,
    on_domain: Callable[[str], None] | None = None,
) -> list[str]:
    """Equal shares of `sample_bytes` from each domain, in domain order."""
    budget = max(1, sample_bytes // max(1, len(domain_files)))
    sample: list[str] = []
    for name, files in domain_files.items():
        if on_domain is not None:
            on_domain(name)
        sample.extend(draw_domain_sample(name, files, budget, seed))
    return sample
