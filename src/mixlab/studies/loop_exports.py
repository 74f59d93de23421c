"""The production files of `mixlab run`: a mixture in every trainer's format, the token
exports they point at written once per loop run (a mixin of `studies.loop.Loop`)."""

from __future__ import annotations

from functools import cached_property
from typing import Any


class ProductionExports:
    """Needs `project`, `out` and `c` (the project config) from the class it is mixed into."""

    @cached_property
    def _token_exports(self) -> dict[str, Any]:
        return {}

    def export_data(self, fmt: str):
        """The data a `fmt` export points at: the shards (json) or their token export in
        `fmt`, written once per loop run however many mixtures are exported."""
        from mixlab.export.tokens import export_tokens

        cache = self._token_exports
        if fmt not in cache:
            shards = self.project.shards
            cache[fmt] = shards if fmt == "json" else export_tokens(shards, fmt).directory
        return cache[fmt]

    def exports(
        self,
        mixture: dict[str, float],
        rec: dict[str, Any],
        stem: str = "recommended",
        extra: dict[str, Any] | None = None,
    ) -> dict[str, str]:
        """`mixture` in every format under mixture/STEM.*; the json one carries `extra`
        (default: the recommendation's prediction)."""
        from mixlab.export.mixtures import write_mixture_export

        names = {
            "json": f"{stem}.json",
            "megatron": f"{stem}.megatron.txt",
            "olmo": f"{stem}.olmo.yaml",
            "hf": f"{stem}.hf.json",
        }
        (self.out / "mixture").mkdir(exist_ok=True)
        for fmt, name in names.items():
            write_mixture_export(
                self.out / "mixture" / name,
                mixture,
                fmt,
                data=self.export_data(fmt),
                max_epochs={d: self.c.constraints.max_epochs for d in mixture},
                requested_tokens=self.c.proxy.tokens,
                extra=(extra or {"predicted": rec["recommended"]}) if fmt == "json" else None,
            )
        return {fmt: f"mixture/{name}" for fmt, name in names.items()}
