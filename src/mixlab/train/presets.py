"""Model size presets, named by their approximate non-embedding parameter count.

The small ones train on a laptop CPU in minutes (the demo); 124M is GPT-2 small's shape
(about 124M parameters in all with a GPT-2 vocabulary); 350M is GPT-2 medium's.
"""

from __future__ import annotations

from mixlab.errors import InputError
from mixlab.train.model import ModelConfig

# name -> (n_layer, n_head, n_embd)
PRESETS: dict[str, tuple[int, int, int]] = {
    "25k": (2, 2, 32),
    "100k": (2, 4, 64),
    "400k": (3, 4, 96),
    "1M": (4, 4, 128),
    "5M": (6, 4, 256),
    "20M": (8, 6, 384),
    "45M": (12, 8, 512),
    "124M": (12, 12, 768),
    "350M": (24, 16, 1024),
}


def preset(name: str, vocab_size: int, seq_len: int = 256, **overrides) -> ModelConfig:
    """The ModelConfig of preset `name` for a vocabulary and context length."""
    if name not in PRESETS:
        raise InputError(f"model preset {name!r} is not one of {', '.join(PRESETS)}")
    n_layer, n_head, n_embd = PRESETS[name]
    return ModelConfig(
        vocab_size=vocab_size,
        seq_len=seq_len,
        n_layer=n_layer,
        n_head=n_head,
        n_embd=n_embd,
        **overrides,
    )
