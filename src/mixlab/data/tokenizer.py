"""Tokenizers for the shards: trained byte-level BPE, plain bytes, or a given tokenizer.json.

All three are Hugging Face `tokenizers` objects serialised as tokenizer.json, stored next to
the shards so every run on them agrees. `TextTokenizer` adds the end-of-document id, the
shard dtype and a numpy fast path for the byte tokenizer (byte b has id b).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from mixlab.errors import InputError

EOD_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
SPECIAL_TOKENS = (EOD_TOKEN, PAD_TOKEN)
UINT16_LIMIT = 1 << 16


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map used by the ByteLevel pre-tokenizer."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars, strict=True)}


def _byte_vocab() -> dict[str, int]:
    return {char: b for b, char in bytes_to_unicode().items()}


def byte_tokenizer_hf() -> Tokenizer:
    """The no-training tokenizer: 256 byte ids (id == byte value), then EOD and PAD."""
    hf = Tokenizer(models.BPE(vocab=_byte_vocab(), merges=[]))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens(list(SPECIAL_TOKENS))
    return hf


def _is_byte_tokenizer(hf: Tokenizer) -> bool:
    spec = json.loads(hf.to_str())
    model = spec.get("model") or {}
    pre = spec.get("pre_tokenizer") or {}
    return (
        model.get("type") == "BPE"
        and not model.get("merges")
        and model.get("vocab") == _byte_vocab()
        and spec.get("normalizer") is None
        and pre.get("type") == "ByteLevel"
        and not pre.get("add_prefix_space", False)
    )


class TextTokenizer:
    """A Hugging Face tokenizer with the end-of-document id and the dtype its ids fit in."""

    def __init__(self, hf: Tokenizer, eod_token: str = EOD_TOKEN) -> None:
        if hf.token_to_id(eod_token) is None:
            hf.add_special_tokens([eod_token])
        # Text that happens to contain "<|endoftext|>" must not produce document boundaries.
        hf.encode_special_tokens = True
        self.hf = hf
        self.eod_token = eod_token
        self.eod_id: int = int(hf.token_to_id(eod_token))
        self.vocab_size: int = int(hf.get_vocab_size(with_added_tokens=True))
        self.dtype = np.dtype(np.uint16 if self.vocab_size <= UINT16_LIMIT else np.uint32)
        self.is_bytes = _is_byte_tokenizer(hf)

    @classmethod
    def from_str(cls, text: str, eod_token: str = EOD_TOKEN) -> TextTokenizer:
        return cls(Tokenizer.from_str(text), eod_token)

    @classmethod
    def from_file(cls, path: str | Path, eod_token: str = EOD_TOKEN) -> TextTokenizer:
        """Load a tokenizer.json; a missing file or a malformed one is an `InputError`."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: tokenizer file does not exist")
        try:
            hf = Tokenizer.from_file(str(path))
        except Exception as error:  # the Rust side raises plain Exception
            raise InputError(f"{path}: not a Hugging Face tokenizer.json ({error})") from None
        return cls(hf, eod_token)

    def to_str(self) -> str:
        return self.hf.to_str()

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_str(), encoding="utf-8")

    def encode(self, text: str) -> np.ndarray:
        """Token ids of one text, without the end-of-document token."""
        tokens, lengths = self.encode_documents([text])
        return tokens[: int(lengths[0]) - 1]

    def encode_documents(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the texts concatenated, each followed by EOD; and each document's length."""
        if self.is_bytes:
            return self._encode_bytes(texts)
        encodings = self.hf.encode_batch_fast(list(texts), add_special_tokens=False)
        flat: list[int] = []
        lengths = np.empty(len(encodings), dtype=np.int64)
        eod = self.eod_id
        for i, encoding in enumerate(encodings):
            ids = encoding.ids
            flat.extend(ids)
            flat.append(eod)
            lengths[i] = len(ids) + 1
        return np.array(flat, dtype=self.dtype), lengths

    def _encode_bytes(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        data = [t.encode("utf-8") for t in texts]
        lengths = np.fromiter((len(b) + 1 for b in data), dtype=np.int64, count=len(data))
        tokens = np.empty(int(lengths.sum()), dtype=self.dtype)
        is_text = np.ones(tokens.size, dtype=bool)
        is_text[np.cumsum(lengths) - 1] = False
        tokens[is_text] = np.frombuffer(b"".join(data), dtype=np.uint8)
        tokens[~is_text] = self.eod_id
        return tokens, lengths

    def decode(self, ids: Iterable[int]) -> str:
        return self.hf.decode([int(i) for i in ids], skip_special_tokens=False)


def byte_tokenizer() -> TextTokenizer:
    """The pure byte tokenizer (no training)."""
    return TextTokenizer(byte_tokenizer_hf())


def train_bpe(
    texts: Iterable[str],
    vocab_size: int,
    min_frequency: int = 2,
    special_tokens: Sequence[str] = SPECIAL_TOKENS,
) -> TextTokenizer:
    """Train a byte-level BPE on `texts` (deterministic for the same texts in the same order)."""
    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    hf.train_from_iterator(texts, trainer)
    return TextTokenizer(hf, special_tokens[0])
