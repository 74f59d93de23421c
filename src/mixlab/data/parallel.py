"""Tokenisation in worker processes, results in input order, with bounded memory.

The main process reads documents and writes shards; workers only encode. At most a few
chunks per worker are in flight, so a corpus of any size streams through.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

from mixlab.data.tokenizer import TextTokenizer

CHUNK_CHARS = 128 * 1024  # small enough that workers rarely idle at domain ends
CHUNK_DOCS = 4096
_worker_tokenizer: TextTokenizer | None = None


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def chunk_documents(
    documents: Iterable[str], max_chars: int = CHUNK_CHARS, max_docs: int = CHUNK_DOCS
) -> Iterator[list[str]]:
    """Group documents into lists of about `max_chars` characters."""
    chunk: list[str] = []
    size = 0
    for doc in documents:
        chunk.append(doc)
        size += len(doc)
        if size >= max_chars or len(chunk) >= max_docs:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _init_worker(tokenizer_json: str, eod_token: str) -> None:
    global _worker_tokenizer
    # One process per core already; the tokenizer's own thread pool would oversubscribe.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _worker_tokenizer = TextTokenizer.from_str(tokenizer_json, eod_token)


def _encode_in_worker(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    assert _worker_tokenizer is not None
    return _worker_tokenizer.encode_documents(texts)


class ParallelEncoder:
    """Encodes chunks of documents with `workers` processes (in-process when workers == 1)."""

    def __init__(self, tokenizer: TextTokenizer, workers: int) -> None:
        self.tokenizer = tokenizer
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.tokenizer.to_str(), self.tokenizer.eod_token),
            )
        return self._pool

    def map(self, chunks: Iterable[list[str]]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(tokens, document lengths) per chunk, in the order the chunks came."""
        if self.workers == 1:
            for chunk in chunks:
                yield self.tokenizer.encode_documents(chunk)
            return
        pool = self._ensure_pool()
        pending: deque[Future[tuple[np.ndarray, np.ndarray]]] = deque()
        try:
            for chunk in chunks:
                pending.append(pool.submit(_encode_in_worker, chunk))
                if len(pending) > 2 * self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> ParallelEncoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
