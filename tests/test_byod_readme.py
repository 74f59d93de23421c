"""The README's "Bring your own data" section runs as written, command by command."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mixlab.cli import main
from mixlab.data import load_prepared

README = Path(__file__).resolve().parents[1] / "README.md"
DOMAINS = ["web", "code", "books"]


def section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Bring your own data")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", section(), flags=re.S)


def texts(prefix: str, n: int, rng: np.random.Generator) -> list[str]:
    words = {
        "web": "news page click the home",
        "code": "def return if for x = ( )",
        "books": "chapter she said long ago the",
    }[prefix.split("-")[0]].split()
    return [f"{prefix} {i} " + " ".join(rng.choice(words, size=40)) for i in range(n)]


def write_arrow(folder: Path, docs: list[str]) -> None:
    """One split of a `DatasetDict.save_to_disk` folder."""
    folder.mkdir(parents=True)
    table = pa.table({"text": docs})
    with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    (folder / "state.json").write_text(
        json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]})
    )


def make_inputs(root: Path) -> None:
    rng = np.random.default_rng(0)
    web = root / "raw" / "web" / "data"
    web.mkdir(parents=True)
    pq.write_table(pa.table({"text": texts("web", 200, rng)}), web / "train-00000-of-00001.parquet")
    pq.write_table(
        pa.table({"text": texts("web-TESTDOC", 30, rng)}), web / "test-00000-of-00001.parquet"
    )
    code = root / "raw" / "code"
    code.mkdir(parents=True)
    lines = "".join(
        json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts("code", 200, rng))
    )
    (code / "part-0000.json.gz").write_bytes(gzip.compress(lines.encode()))
    books = root / "raw" / "books"
    write_arrow(books / "train", texts("books", 200, rng))
    write_arrow(books / "validation", texts("books-VAL", 20, rng))
    write_arrow(books / "test", texts("books-TESTDOC", 20, rng))
    (books / "dataset_dict.json").write_text(
        json.dumps({"splits": ["train", "validation", "test"]})
    )

    # A W&B runs-table export of proxy runs whose losses follow a mixing law.
    r = rng.dirichlet(np.ones(3), size=30)
    t = np.array([[-1.5, 0.2, 0.1], [0.3, -2.0, 0.2], [0.1, 0.3, -1.2]])
    losses = np.array([2.0, 1.2, 2.4]) + 0.8 * np.exp(r @ t.T) + rng.normal(0, 0.003, (30, 3))
    rows = [
        {
            "Name": f"run-{i}",
            "State": "finished",
            "Notes": "proxy sweep",
            "User": "me",
            **{f"mix_{d}": round(float(r[i, j]), 3) for j, d in enumerate(DOMAINS)},
            "model_size": "60M",
            "train_tokens": 1.2e9,
            **{f"val/loss_{d}": float(losses[i, j]) for j, d in enumerate(DOMAINS)},
        }
        for i in range(30)
    ]
    pd.DataFrame(rows).to_csv(root / "wandb_export.csv", index=False)
    run = root / "hf_runs" / "web-heavy"
    run.mkdir(parents=True)
    history = [
        {"step": s, "loss": 3.0 - s / 100, "num_input_tokens_seen": s * 4096} for s in (10, 20)
    ]
    (run / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    (root / "hf_runs" / "mixtures.csv").write_text("index,web,code,books\nweb-heavy,0.7,0.2,0.1\n")


def run_bash_block(block: str, root: Path) -> list[str]:
    """Run the block's heredocs (as files) and its mixlab commands; return the commands."""
    ran = []
    lines = iter(block.splitlines())
    for line in lines:
        line = line.strip()
        heredoc = re.match(r"cat > (\S+) <<'(\w+)'", line)
        if heredoc:
            body = []
            for inner in lines:
                if inner.strip() == heredoc[2]:
                    break
                body.append(inner)
            (root / heredoc[1]).write_text("\n".join(body) + "\n")
        elif line.startswith("mixlab "):
            argv = shlex.split(line, comments=True)[1:]
            assert main(["--quiet", *argv]) == 0, line
            ran.append(line)
        else:
            assert line == "" or line.startswith("#"), f"unhandled README line: {line}"
    return ran


@pytest.mark.slow
def test_bring_your_own_data_runs_as_written(tmp_path, monkeypatch):
    make_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    (bash,) = blocks("bash")
    ran = run_bash_block(bash, tmp_path)
    assert len(ran) >= 10

    data = load_prepared(tmp_path / "shards")
    for split in (data.train, data.validation):
        for name, shard in split.items():
            decoded = data.tokenizer.decode(np.asarray(shard.tokens))
            assert "TESTDOC" not in decoded, name  # test splits never reach the shards
    books_val = data.tokenizer.decode(np.asarray(data.validation["books"].tokens))
    assert books_val.count("books-VAL") == 20  # the dataset's own validation split

    parts = (tmp_path / "data_path.txt").read_text().split()
    assert all(Path(p + ".bin").is_file() and Path(p + ".idx").is_file() for p in parts[1::2])
    olmo = yaml.safe_load((tmp_path / "mixture.olmo.yaml").read_text())
    assert olmo["global_batch_size"] == 4096 and olmo["requested_tokens"] == 20000
    assert all(Path(p).is_file() for s in olmo["source_list"]["sources"] for p in s["paths"])
    assert json.loads((tmp_path / "mixture.bytes.json").read_text())["export"]["unit"] == "bytes"

    if importlib.util.find_spec("olmo_core") and importlib.util.find_spec("datasets"):
        (python,) = blocks("python")
        scope: dict = {}
        exec(python, scope)  # noqa: S102 - the README's own example, under test
        assert len(scope["hf_mix"]) > 0
        assert scope["olmo_mix"].requested_tokens == 20000
        spec = json.loads((tmp_path / "mixture.hf.json").read_text())
        snippet = {"SPEC": "mixture.hf.json"}
        exec(spec["snippet"], snippet)  # noqa: S102 - the spec's own loader snippet
        assert snippet["mixed"]["num_tokens"] == scope["hf_mix"]["num_tokens"]
