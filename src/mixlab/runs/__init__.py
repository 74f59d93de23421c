"""Runs: the run record, the SQLite run store, and import / export of run tables."""

from mixlab.runs.export import export_curves, export_paths, export_wide
from mixlab.runs.importers import ImportSummary, import_curves, import_mixinglaws_logs, import_wide
from mixlab.runs.record import Evaluation, RunRecord
from mixlab.runs.store import RunStore, default_store_path

__all__ = [
    "Evaluation",
    "ImportSummary",
    "RunRecord",
    "RunStore",
    "default_store_path",
    "export_curves",
    "export_paths",
    "export_wide",
    "import_curves",
    "import_mixinglaws_logs",
    "import_wide",
]
