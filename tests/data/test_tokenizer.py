"""Tokenizers: the byte fast path agrees with Hugging Face; BPE training is deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from mixlab.data.tokenizer import EOD_TOKEN, TextTokenizer, byte_tokenizer, train_bpe
from mixlab.errors import InputError

TEXTS = ["héllo wörld", "", "tabs\tand\nnewlines  ", "emoji 🤖 and <|endoftext|> literal"]


def test_byte_tokenizer_ids_are_bytes_and_match_hf() -> None:
    tok = byte_tokenizer()
    assert tok.is_bytes and tok.vocab_size == 258 and tok.eod_id == 256
    tokens, lengths = tok.encode_documents(TEXTS)
    expected = []
    for text in TEXTS:
        expected.extend(text.encode("utf-8"))
        expected.append(tok.eod_id)
    np.testing.assert_array_equal(tokens, expected)
    hf = [e.ids + [tok.eod_id] for e in tok.hf.encode_batch(TEXTS, add_special_tokens=False)]
    np.testing.assert_array_equal(tokens, np.concatenate([np.array(h) for h in hf]))
    assert lengths.tolist() == [len(t.encode()) + 1 for t in TEXTS]
    assert tok.decode(tok.encode(TEXTS[3])) == TEXTS[3]


def test_bpe_is_deterministic_and_never_emits_eod_from_text() -> None:
    corpus = [f"the quick brown fox {i} jumps over the lazy dog {i % 7}" for i in range(300)]
    a = train_bpe(corpus, vocab_size=300)
    b = train_bpe(corpus, vocab_size=300)
    assert a.to_str() == b.to_str()
    assert a.vocab_size <= 300 and a.dtype == np.uint16
    ids = a.encode("literal <|endoftext|> in text")
    assert a.eod_id not in ids.tolist()
    assert a.decode(ids) == "literal <|endoftext|> in text"


def test_file_tokenizer_gets_eod_added(tmp_path: Path) -> None:
    hf = Tokenizer(models.WordLevel({"a": 0, "b": 1, "[UNK]": 2}, unk_token="[UNK]"))
    hf.pre_tokenizer = pre_tokenizers.Whitespace()
    hf.save(str(tmp_path / "t.json"))
    tok = TextTokenizer.from_file(tmp_path / "t.json")
    assert tok.eod_id == 3 and tok.hf.token_to_id(EOD_TOKEN) == 3
    np.testing.assert_array_equal(tok.encode_documents(["a b", "b"])[0], [0, 1, 3, 1, 3])


def test_bad_tokenizer_file(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text("{not json")
    with pytest.raises(InputError, match="t.json"):
        TextTokenizer.from_file(tmp_path / "t.json")
    with pytest.raises(InputError, match="does not exist"):
        TextTokenizer.from_file(tmp_path / "missing.json")
