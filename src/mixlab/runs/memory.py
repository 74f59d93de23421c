"""A run store in memory: what a sweep worker trains into, so that only the driver writes SQLite.

It offers the part of `RunStore` the trainer uses (put, add_evaluations, set_status, get);
the worker sends the finished record back and the sweep's driver stores it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mixlab.errors import InputError
from mixlab.runs.record import Evaluation, RunRecord, Status
from mixlab.runs.store import DoneRunError


class MemoryStore:
    """Runs held in a dict, with the semantics of `RunStore`'s writes."""

    def __init__(self, path: str = "<memory>"):
        self.path = path
        self._runs: dict[str, RunRecord] = {}

    def put(self, record: RunRecord, *, replace_done: bool = True) -> None:
        self.put_many([record], replace_done=replace_done)

    def put_many(self, records: Iterable[RunRecord], *, replace_done: bool = True) -> None:
        records = list(records)
        for r in records:
            old = self._runs.get(r.id)
            if not replace_done and old is not None and old.status == "done":
                raise DoneRunError(f"{self.path}: run {r.id!r} is already done")
        self._runs.update({r.id: r.model_copy(deep=True) for r in records})

    def add_evaluations(self, run_id: str, evaluations: Sequence[Evaluation]) -> None:
        record = self.get(run_id)
        self._runs[run_id] = record.model_copy(
            update={"evaluations": [*record.evaluations, *evaluations]}
        )

    def set_status(
        self,
        run_id: str,
        status: Status,
        *,
        error: str | None = None,
        tokens: float | None = None,
        wall_time: float | None = None,
    ) -> None:
        record = self.get(run_id)
        update = {"status": status, "error": error}
        if tokens is not None:
            update["tokens"] = tokens
        if wall_time is not None:
            update["wall_time"] = wall_time
        self._runs[run_id] = record.model_copy(update=update)

    def ids(self, tag: str | None = None, status: Status | None = None) -> list[str]:
        return [
            i
            for i, r in self._runs.items()
            if (tag is None or tag in r.tags) and (status is None or r.status == status)
        ]

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._runs

    def get(self, run_id: str) -> RunRecord:
        if run_id not in self._runs:
            raise InputError(f"{self.path}: no run with id {run_id!r}")
        return self._runs[run_id].model_copy(deep=True)
