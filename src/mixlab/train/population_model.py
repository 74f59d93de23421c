"""P models of one shape as one batched model: every weight stacked on a leading member axis.

The forward pass is `GPT.forward` with each matrix product batched over members (`x @ W.mT`
on (P, rows, d) activations), so one step of P small proxies is a few large kernels instead
of P launches of small ones. Parameters carry exactly `GPT`'s names (`blocks.0.attn.qkv.weight`
is the stack of the members' `blocks.0.attn.qkv.weight`), so member i's weights are slice i
of the same-named stacked tensor, and `bind` makes each member `GPT` a view of its slice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from mixlab.train.model import GPT, ModelConfig, apply_rotary, rotary_tables


class Stacked(nn.Module):
    """One parameter (`weight`) per member, stacked: shape (P, *shape)."""

    def __init__(self, members: int, *shape: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(members, *shape))


def _linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Per-member `F.linear`: x (P, ..., in) and w (P, out, in) -> (P, ..., out)."""
    P = x.shape[0]
    return (x.reshape(P, -1, x.shape[-1]) @ w.mT).view(*x.shape[:-1], w.shape[1])


def _rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    """Per-member `F.rms_norm` with a weight of shape (P, d)."""
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (x.shape[-1],)
    return F.rms_norm(x, (x.shape[-1],), None, eps) * w.view(shape)


class StackedBlock(nn.Module):
    def __init__(self, cfg: ModelConfig, members: int):
        super().__init__()
        d, h = cfg.n_embd, cfg.hidden
        self.norm1 = Stacked(members, d)
        self.attn = nn.Module()
        self.attn.qkv = Stacked(members, 3 * d, d)
        self.attn.proj = Stacked(members, d, d)
        self.norm2 = Stacked(members, d)
        self.mlp = nn.Module()
        self.mlp.up = Stacked(members, (2 if cfg.mlp == "swiglu" else 1) * h, d)
        self.mlp.down = Stacked(members, d, h)


class PopulationGPT(nn.Module):
    """P same-shaped GPTs: ids (P, B, T) -> logits (P, B, T, vocab) and per-member losses."""

    def __init__(self, cfg: ModelConfig, members: int):
        super().__init__()
        self.cfg, self.members = cfg, members
        self.embed = Stacked(members, cfg.vocab_size, cfg.n_embd)
        self.blocks = nn.ModuleList(StackedBlock(cfg, members) for _ in range(cfg.n_layer))
        self.norm = Stacked(members, cfg.n_embd)
        if not cfg.tie_embeddings:
            self.head = Stacked(members, cfg.vocab_size, cfg.n_embd)
        cos, sin = rotary_tables(cfg.n_embd // cfg.n_head, cfg.seq_len, cfg.rope_theta)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    @classmethod
    def stack(cls, models: Sequence[GPT]) -> PopulationGPT:
        """A population holding copies of `models`' weights (all of one ModelConfig)."""
        cfg = models[0].cfg
        if any(m.cfg != cfg for m in models):
            raise ValueError("a population's models must share one ModelConfig")
        first = models[0].embed.weight
        pop = cls(cfg, len(models)).to(device=first.device, dtype=first.dtype)
        with torch.no_grad():
            for name, p in pop.named_parameters():
                p.copy_(torch.stack([m.get_parameter(name) for m in models]))
        return pop

    def bind(self, models: Sequence[GPT]) -> None:
        """Make each model's parameters views of its slice here (evaluation sees live weights)."""
        for name, p in self.named_parameters():
            for i, m in enumerate(models):
                m.get_parameter(name).data = p.data[i]

    def _mlp(self, block: StackedBlock, x: torch.Tensor) -> torch.Tensor:
        up = _linear(x, block.mlp.up.weight)
        if self.cfg.mlp == "swiglu":
            gate, up = up.chunk(2, dim=-1)
            return _linear(F.silu(gate) * up, block.mlp.down.weight)
        return _linear(F.gelu(up, approximate="tanh"), block.mlp.down.weight)

    def _attn(self, block: StackedBlock, x: torch.Tensor, cos, sin) -> torch.Tensor:
        P, B, T, C = x.shape
        H = self.cfg.n_head
        qkv = _linear(x, block.attn.qkv.weight).view(P * B, T, 3, H, C // H)
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(dim=2))  # (P*B, heads, T, head_dim)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return _linear(y.transpose(1, 2).reshape(P, B, T, C), block.attn.proj.weight)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, reduction: str = "mean"
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`reduction`: "mean" gives one loss per member (P,), "none" the (P, B, T) losses."""
        P, B, T = idx.shape
        if T > self.cfg.seq_len:
            raise ValueError(f"sequence of {T} tokens is longer than seq_len {self.cfg.seq_len}")
        V = self.cfg.vocab_size
        offsets = torch.arange(P, device=idx.device).view(P, 1, 1) * V
        x = F.embedding(idx + offsets, self.embed.weight.view(P * V, -1))
        cos, sin = self.cos[:T], self.sin[:T]
        eps = self.cfg.norm_eps
        for block in self.blocks:
            x = x + self._attn(block, _rms_norm(x, block.norm1.weight, eps), cos, sin)
            x = x + self._mlp(block, _rms_norm(x, block.norm2.weight, eps))
        head = self.embed.weight if self.cfg.tie_embeddings else self.head.weight
        logits = _linear(_rms_norm(x, self.norm.weight, eps), head)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(
            logits.float().view(-1, V), targets.reshape(-1), reduction="none"
        ).view(P, B, T)
        return logits, loss.mean(dim=(1, 2)) if reduction == "mean" else loss


class PopulationAdamW:
    """AdamW over stacked parameters with each member's own lr, weight decay, betas, eps and
    gradient-norm clipping: the arithmetic of `torch.optim.AdamW` (decoupled decay, bias
    correction) and `clip_grad_norm_`, done once for all members.

    Parameters with fewer than 3 dimensions (a member's vectors) get no weight decay, as in
    the single-run optimiser's two groups.
    """

    def __init__(
        self, params: Sequence[torch.Tensor], *, weight_decay, beta1, beta2, eps, grad_clip
    ):
        self.params = list(params)
        device = self.params[0].device

        def vec(values) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.float64, device=device)

        self.weight_decay, self.beta1, self.beta2 = vec(weight_decay), vec(beta1), vec(beta2)
        self.eps = vec(eps)
        self.grad_clip = vec([math.inf if c is None else c for c in grad_clip])
        self.step_count = 0
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    @staticmethod
    def _per_member(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return values.to(like.dtype).view(-1, *(1,) * (like.ndim - 1))

    @torch.no_grad()
    def clip_(self) -> torch.Tensor:
        """Scale each member's gradients to norm <= its grad_clip; returns the norms (P,)."""
        grads = [p.grad for p in self.params]
        norms = torch.stack(
            [torch.linalg.vector_norm(g, dim=tuple(range(1, g.ndim))) for g in grads], dim=1
        )
        total = torch.linalg.vector_norm(norms, dim=1)
        coef = torch.clamp(self.grad_clip.to(total.dtype) / (total + 1e-6), max=1.0)
        coef = torch.where(torch.isinf(self.grad_clip), torch.ones_like(coef), coef)
        for g in grads:
            g.mul_(self._per_member(coef, g))
        return total

    @torch.no_grad()
    def step(self, lr: Sequence[float]) -> None:
        """One AdamW step; `lr` is each member's learning rate for this step."""
        self.step_count += 1
        t = self.step_count
        lr_t = torch.tensor(lr, dtype=torch.float64, device=self.beta1.device)
        step_size = lr_t / (1 - self.beta1**t)
        bc2_sqrt = (1 - self.beta2**t) ** 0.5
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True):
            g = p.grad
            if p.ndim >= 3:
                p.mul_(self._per_member(1 - lr_t * self.weight_decay, p))
            m.lerp_(g, self._per_member(1 - self.beta1, p))
            v.mul_(self._per_member(self.beta2, p)).addcmul_(
                g * self._per_member(1 - self.beta2, p), g
            )
            denom = (v.sqrt() / self._per_member(bc2_sqrt, p)).add_(self._per_member(self.eps, p))
            p.addcdiv_(m * self._per_member(-step_size, p), denom)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None
