"""A W&B runs-table CSV (text columns, rounded weights, a model-size column) imports and fits;
HF trainer_state.json logs import as curves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mixlab.cli import main
from mixlab.errors import InputError
from mixlab.runs import RunStore
from mixlab.runs.table_import import import_table, match_columns

DOMAINS = ["web", "code", "books"]


def wandb_csv(path: Path, n: int = 40, seed: int = 0) -> Path:
    """Runs whose per-domain losses follow an exponential mixing law, as W&B exports them."""
    rng = np.random.default_rng(seed)
    r = rng.dirichlet(np.ones(3), size=n)
    t = np.array([[-1.5, 0.2, 0.1], [0.3, -2.0, 0.2], [0.1, 0.3, -1.2]])
    c = np.array([2.0, 1.2, 2.4])
    losses = c + 0.8 * np.exp(r @ t.T) + rng.normal(0, 0.003, size=(n, 3))
    rows = []
    for i in range(n):
        rows.append(
            {
                "Name": f"sweep-{i:03d}",
                "State": "finished",
                "Notes": "lr 3e-4, cosine" if i % 2 else "",
                "User": "someone",
                "Tags": "mix,proxy",
                "Created": "2026-11-01T10:00:00.000Z",
                "Runtime": 3600 + i,
                "optimizer": "adamw",
                **{f"mix_{d}": round(float(r[i, j]), 3) for j, d in enumerate(DOMAINS)},
                "model_size": "125M" if i % 2 else "350M",
                "train_tokens": 2.5e9,
                **{f"val/loss_{d}": float(losses[i, j]) for j, d in enumerate(DOMAINS)},
                "val/loss": float(losses[i].mean()),
            }
        )
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_patterns_name_domains_by_the_star():
    cols = ["Name", "mix_web", "mix_code", "val/loss_web", "val/loss"]
    assert match_columns(cols, ["mix_*"]) == {"mix_web": "web", "mix_code": "code"}
    assert match_columns(cols, ["val/*"]) == {"val/loss_web": "loss_web", "val/loss": "loss"}


def test_wandb_runs_table_imports_and_fits_end_to_end(tmp_path, capsys):
    csv = wandb_csv(tmp_path / "wandb_export.csv")
    db = tmp_path / "runs.db"
    args = [
        "runs",
        "import",
        "--table",
        str(csv),
        "--mixture-columns",
        "mix_*",
        "--metric-columns",
        "val/*",
        "--n-column",
        "model_size",
        "--tokens-column",
        "train_tokens",
        "--store",
        str(db),
    ]
    assert main(args) == 2  # rounded weights do not sum to 1: named, not silently fixed
    assert "sum" in capsys.readouterr().err
    assert main([*args, "--renormalize"]) == 0
    with RunStore(db) as store:
        record = store.get("sweep-001")
    assert record.n_params == 125_000_000 and record.tokens == 2.5e9
    assert set(record.mixture) == set(DOMAINS)
    assert sum(record.mixture.values()) == pytest.approx(1.0)
    assert set(record.final_metrics()) == {"loss_web", "loss_code", "loss_books", "loss"}

    law = tmp_path / "law.json"
    code = main(
        [
            "--json",
            "law",
            "fit",
            "--store",
            str(db),
            "--out",
            str(law),
            "--target",
            "loss_web",
            "--target",
            "loss_code",
            "--folds",
            "4",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    cv = json.loads(out)["cv"]["targets"]
    assert cv["loss_web"]["spearman"] > 0.9 and cv["loss_code"]["spearman"] > 0.9


def test_matched_text_column_is_named(tmp_path):
    csv = wandb_csv(tmp_path / "w.csv", n=5)
    with RunStore(tmp_path / "r.db") as store, pytest.raises(InputError, match="'State'"):
        import_table(
            store, csv, mixture_columns=["mix_*"], metric_columns=["State"], renormalize=True
        )


def test_trainer_state_imports_as_curves(tmp_path, capsys):
    run = tmp_path / "run-a" / "checkpoint-30"
    run.mkdir(parents=True)
    history = [
        {
            "step": 10,
            "epoch": 0.1,
            "loss": 3.5,
            "learning_rate": 1e-3,
            "num_input_tokens_seen": 4096,
        },
        {"step": 20, "eval_loss": 3.1, "eval_runtime": 2.0, "num_input_tokens_seen": 8192},
        {"step": 30, "loss": 2.9, "num_input_tokens_seen": 12288},
    ]
    (run / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    (tmp_path / "mix.csv").write_text("index,web,code\nrun-a,0.4,0.6\n")
    db = tmp_path / "r.db"
    assert (
        main(
            [
                "runs",
                "import",
                "--trainer-state",
                str(run / "trainer_state.json"),
                "--mixtures",
                str(tmp_path / "mix.csv"),
                "--store",
                str(db),
            ]
        )
        == 0
    )
    with RunStore(db) as store:
        record = store.get("run-a")
    assert [e.value for e in record.curve("loss")] == [3.5, 2.9]
    assert [e.tokens for e in record.curve("eval_loss")] == [8192]
    assert record.tokens == 12288 and "eval_runtime" not in record.final_metrics()


def test_tensorboard_without_the_package_says_what_to_install(tmp_path, capsys):
    import importlib.util

    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed: the message is for machines without it")
    (tmp_path / "run-a").mkdir()
    (tmp_path / "mix.csv").write_text("index,web,code\nrun-a,0.4,0.6\n")
    code = main(
        [
            "runs",
            "import",
            "--tensorboard",
            str(tmp_path / "run-a"),
            "--mixtures",
            str(tmp_path / "mix.csv"),
            "--store",
            str(tmp_path / "r.db"),
        ]
    )
    assert code == 2
    assert "pip install tensorboard" in " ".join(capsys.readouterr().err.split())
