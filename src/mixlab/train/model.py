"""The proxy model family: a decoder-only transformer, readable in one file (nanoGPT's habit).

Pre-norm blocks with RMSNorm, rotary positions, a SwiGLU or GELU MLP, optional tied
embeddings, attention through `scaled_dot_product_attention` (flash kernels on GPU).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator


class ModelConfig(BaseModel):
    """The shape of a model. `mlp_hidden=None` picks 4d (GELU) or 8d/3 rounded to 64 (SwiGLU)."""

    model_config = ConfigDict(extra="forbid")

    vocab_size: int = Field(gt=0)
    seq_len: int = Field(default=256, gt=0)
    n_layer: int = Field(gt=0)
    n_head: int = Field(gt=0)
    n_embd: int = Field(gt=0)
    mlp: Literal["swiglu", "gelu"] = "swiglu"
    mlp_hidden: int | None = Field(default=None, gt=0)
    tie_embeddings: bool = True
    rope_theta: float = Field(default=10000.0, gt=0)
    norm_eps: float = Field(default=1e-5, gt=0)
    init_std: float = Field(default=0.02, gt=0)

    @model_validator(mode="after")
    def _heads_divide_width(self) -> ModelConfig:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if (self.n_embd // self.n_head) % 2:
            raise ValueError("the head size n_embd / n_head must be even (rotary positions)")
        return self

    @property
    def hidden(self) -> int:
        if self.mlp_hidden is not None:
            return self.mlp_hidden
        if self.mlp == "gelu":
            return 4 * self.n_embd
        return 64 * math.ceil(8 * self.n_embd / 3 / 64)

    # -- exact counts (checked against the module in the tests) ------------------------------
    def n_params_nonembed(self) -> int:
        """Parameters outside the token embedding and output matrices (Kaplan's N)."""
        d, h = self.n_embd, self.hidden
        attn = 4 * d * d
        mlp = (3 if self.mlp == "swiglu" else 2) * d * h
        return self.n_layer * (attn + mlp + 2 * d) + d  # + the norms, + the final norm

    def n_params(self) -> int:
        """All parameters: non-embedding + the embedding (+ the output matrix when untied)."""
        matrices = 1 if self.tie_embeddings else 2
        return self.n_params_nonembed() + matrices * self.vocab_size * self.n_embd

    def flops_per_token(self) -> int:
        """Training FLOPs per token: 6 per weight a token passes through (the non-embedding
        weights and the output projection) plus attention's 12 * n_layer * d * seq_len
        (scores and weighted values, forward and backward), as in PaLM's MFU accounting."""
        dense = self.n_params_nonembed() + self.vocab_size * self.n_embd
        return 6 * dense + 12 * self.n_layer * self.n_embd * self.seq_len


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def rotary_tables(head_dim: int, seq_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotary angles, shape (seq_len, head_dim / 2)."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x1, x2) of the two halves of each head by the position's angle."""
    x1, x2 = x.float().chunk(2, dim=-1)
    out = torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.type_as(x)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: KVCache | None = None,
        layer: int = 0,
    ) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, C // self.n_head).unbind(dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, heads, T, head_dim)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            y = cache.attend(layer, q, k, v)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class KVCache:
    """Keys and values of every layer while decoding, for left-padded rows of prompts.

    `valid` (B, L) marks the real tokens of each row's L = prompt + new positions (pads on
    the left are False). Rotary attention depends only on the distance between positions,
    so a row shifted right by its padding computes what the unpadded row would.
    """

    def __init__(self, n_layer: int, valid: torch.Tensor):
        self.n_layer, self.pos = n_layer, 0
        L = valid.shape[1]
        causal = torch.ones(L, L, dtype=torch.bool, device=valid.device).tril()
        self_only = torch.eye(L, dtype=torch.bool, device=valid.device)  # pads see themselves
        # (B, 1, L, L): query i attends to key j <= i that is a real token (or i itself)
        self.mask = (causal & (valid[:, None, :] | self_only))[:, None]
        self.k: list[torch.Tensor] = []
        self.v: list[torch.Tensor] = []

    def attend(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Store this step's keys/values at the current positions; attend over the whole row."""
        if len(self.k) == layer:  # first call for this layer: allocate all L positions
            B, H, _, D = k.shape
            L = self.mask.shape[-1]
            self.k.append(k.new_zeros(B, H, L, D))
            self.v.append(v.new_zeros(B, H, L, D))
        T = q.shape[2]
        self.k[layer][:, :, self.pos : self.pos + T] = k
        self.v[layer][:, :, self.pos : self.pos + T] = v
        mask = self.mask[:, :, self.pos : self.pos + T]
        return F.scaled_dot_product_attention(q, self.k[layer], self.v[layer], attn_mask=mask)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.swiglu = cfg.mlp == "swiglu"
        self.up = nn.Linear(cfg.n_embd, (2 if self.swiglu else 1) * cfg.hidden, bias=False)
        self.down = nn.Linear(cfg.hidden, cfg.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.swiglu:
            gate, up = self.up(x).chunk(2, dim=-1)
            return self.down(F.silu(gate) * up)
        return self.down(F.gelu(self.up(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm1 = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.norm2 = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: KVCache | None = None,
        layer: int = 0,
    ) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), cos, sin, cache, layer)
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    """Token ids (B, T) -> next-token logits (B, T, vocab); with targets, also the mean loss."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.head.weight = self.embed.weight
        cos, sin = rotary_tables(cfg.n_embd // cfg.n_head, cfg.seq_len, cfg.rope_theta)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2: scale the residual projections
            if name.endswith(("attn.proj.weight", "mlp.down.weight")):
                nn.init.normal_(p, std=cfg.init_std / math.sqrt(2 * cfg.n_layer))

    def _init(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.cfg.init_std)

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        reduction: str = "mean",
        cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """With a `cache`, `idx` continues the cached positions and only the last position's
        logits are computed (decoding)."""
        T = idx.shape[1]
        start = cache.pos if cache is not None else 0
        if start + T > self.cfg.seq_len:
            raise ValueError(
                f"sequence of {start + T} tokens is longer than seq_len {self.cfg.seq_len}"
            )
        x = self.embed(idx)
        cos, sin = self.cos[start : start + T], self.sin[start : start + T]
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, cache, i)
        if cache is not None:
            cache.pos += T
            return self.head(self.norm(x[:, -1:])), None
        logits = self.head(self.norm(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(
            logits.float().view(-1, logits.size(-1)), targets.reshape(-1), reduction=reduction
        )
        return logits, loss if reduction != "none" else loss.view(targets.shape)

    @torch.no_grad()
    def generate_greedy(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        lengths: torch.Tensor | None = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Append `max_new_tokens` argmax tokens to each row of `idx` (exact-match probes).

        Rows may be prompts of different `lengths`, padded on the left. With the KV cache
        each new token costs one position's forward; without it (or past seq_len, where the
        context slides) the whole prefix is recomputed per token (unpadded rows only).
        """
        B, T = idx.shape
        if not use_cache or T + max_new_tokens > self.cfg.seq_len:
            if lengths is not None and bool((lengths != T).any()):
                raise ValueError("padded prompts need the KV cache within seq_len")
            for _ in range(max_new_tokens):
                logits, _ = self(idx[:, -self.cfg.seq_len :])
                idx = torch.cat((idx, logits[:, -1].argmax(dim=-1, keepdim=True)), dim=1)
            return idx
        lengths = torch.full((B,), T, device=idx.device) if lengths is None else lengths
        positions = torch.arange(T + max_new_tokens, device=idx.device)
        cache = KVCache(len(self.blocks), positions[None, :] >= (T - lengths)[:, None])
        logits, _ = self(idx, cache=cache)  # the prompts at once, then one token per step
        out = [idx]
        for i in range(max_new_tokens):
            out.append(logits[:, -1].argmax(dim=-1, keepdim=True))
            if i + 1 < max_new_tokens:
                logits, _ = self(out[-1], cache=cache)
        return torch.cat(out, dim=1)
