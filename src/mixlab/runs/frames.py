"""The run store's reads as pandas frames, shaped for the laws (mixed into `RunStore`).

`StoreFrames` needs the store's `_conn`, `path`, `ids` and `_require`; it keeps the frame
building (mixture and metric matrices, loss curves) apart from the store's writes and leases.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mixlab.errors import InputError
from mixlab.runs.record import Status


class StoreFrames:
    """Mixture, metric and curve frames read from a run store's connection."""

    def summary(self, tag: str | None = None, status: Status | None = None) -> pd.DataFrame:
        """One row per run: id, status, tags, domains, metrics, evaluations, tokens, params."""
        ids = self.ids(tag, status)
        rows = self._conn.execute(
            """SELECT r.id, r.status, r.tokens, r.n_params, r.source, r.updated_at,
                      (SELECT group_concat(tag, ',') FROM tags WHERE run_id = r.id),
                      (SELECT COUNT(*) FROM mixtures WHERE run_id = r.id),
                      (SELECT COUNT(DISTINCT metric) FROM evaluations WHERE run_id = r.id),
                      (SELECT COUNT(*) FROM evaluations WHERE run_id = r.id)
               FROM runs r ORDER BY r.rowid"""
        ).fetchall()
        frame = pd.DataFrame(
            rows,
            columns=[
                "id",
                "status",
                "tokens",
                "n_params",
                "source",
                "updated_at",
                "tags",
                "n_domains",
                "n_metrics",
                "n_evaluations",
            ],
        )
        frame["tags"] = frame["tags"].fillna("")
        return frame[frame["id"].isin(set(ids))].reset_index(drop=True)

    def mixtures(self, ids: Sequence[str] | None = None, *, tag: str | None = None) -> pd.DataFrame:
        """Mixture matrix: index = run id, one column per domain (first-seen order), 0 if absent."""
        ids = self._select(ids, tag)
        long = self._long("SELECT run_id, position, domain, weight FROM mixtures", ids)
        order = _first_seen(long.sort_values(["_run_order", "position"])["domain"])
        wide = long.pivot(index="run_id", columns="domain", values="weight")
        return (
            wide.reindex(index=ids, columns=order).fillna(0.0).rename_axis(index="id", columns=None)
        )

    def metrics(
        self,
        ids: Sequence[str] | None = None,
        *,
        tag: str | None = None,
        metrics: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Metric matrix of final values: index = run id, one column per metric, NaN if absent.

        A run's final value of a metric is its step-less value if it has one, else the value
        at its highest step.
        """
        ids = self._select(ids, tag)
        long = self._long("SELECT run_id, step, metric, value, rowid AS _row FROM evaluations", ids)
        order = _first_seen(long.sort_values(["_run_order", "_row"])["metric"])
        last = (
            long.assign(_final=long["step"].isna(), _step=long["step"].fillna(-1))
            .sort_values(["run_id", "metric", "_final", "_step"])
            .groupby(["run_id", "metric"], sort=False)["value"]
            .last()
            .unstack("metric")
        )
        wanted = order if metrics is None else list(metrics)
        unknown = [m for m in wanted if m not in order]
        if unknown:
            raise InputError(f"{self.path}: no run has metric(s) {', '.join(map(repr, unknown))}")
        return last.reindex(index=ids, columns=wanted).rename_axis(index="id", columns=None)

    def curves(
        self,
        ids: Sequence[str] | None = None,
        *,
        tag: str | None = None,
        metrics: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Loss curves, long: columns run_id, step, tokens, metric, value (stepped points only)."""
        ids = self._select(ids, tag)
        long = self._long(
            "SELECT run_id, step, tokens, metric, value FROM evaluations WHERE step IS NOT NULL",
            ids,
        )
        if metrics is not None:
            long = long[long["metric"].isin(set(metrics))]
        long = long.sort_values(["_run_order", "metric", "step"], kind="stable")
        return long.drop(columns="_run_order").reset_index(drop=True)

    def curve(self, run_id: str, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One run's curve of one metric as arrays (steps, tokens, values), in step order."""
        rows = self._conn.execute(
            "SELECT step, tokens, value FROM evaluations WHERE run_id = ? AND metric = ? "
            "AND step IS NOT NULL ORDER BY step",
            (run_id, metric),
        ).fetchall()
        if not rows:
            self._require(run_id)
            raise InputError(f"{self.path}: run {run_id!r} has no curve of metric {metric!r}")
        steps, tokens, values = zip(*rows, strict=False)
        return (
            np.asarray(steps, dtype=np.int64),
            np.asarray(tokens, dtype=float),
            np.asarray(values, dtype=float),
        )

    # -- helpers ---------------------------------------------------------------------------
    def _select(self, ids: Sequence[str] | None, tag: str | None) -> list[str]:
        if ids is None:
            return self.ids(tag)
        missing = [i for i in ids if i not in self]
        if missing:
            raise InputError(f"{self.path}: no run with id {missing[0]!r}")
        if tag is not None:
            tagged = set(self.ids(tag))
            ids = [i for i in ids if i in tagged]
        return list(ids)

    def _long(self, sql: str, ids: list[str]) -> pd.DataFrame:
        """Run `sql` and keep the rows of `ids`, with each run's position in `ids`."""
        frame = pd.read_sql_query(sql, self._conn)
        order = {run_id: i for i, run_id in enumerate(ids)}
        frame["_run_order"] = frame["run_id"].map(order)
        return frame[frame["_run_order"].notna()]


def _first_seen(values: pd.Series) -> list[str]:
    return list(dict.fromkeys(values))
