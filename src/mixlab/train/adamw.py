"""AdamW for CPU runs: torch.optim.AdamW's single-tensor step, op for op, without torch.optim.

Why: torch.optim imports torch._dynamo on its first call, 2-20 s per process (more on a
busy machine) — a fifth of a short demo-sized `mixlab train`. This class computes exactly
what `torch.optim.AdamW(..., fused=False)` computes on CPU (bit-identical, tested) and reads
and writes the same state_dict, so checkpoints move between the two.
"""

from __future__ import annotations

from typing import Any

import torch

# what torch.optim.AdamW keeps in each param group besides lr, betas, eps and weight_decay
TORCH_GROUP_KEYS = {
    "amsgrad": False,
    "maximize": False,
    "foreach": None,
    "capturable": False,
    "differentiable": False,
    "fused": False,
    "decoupled_weight_decay": True,
}


class AdamW:
    """Decoupled weight decay Adam over parameter groups (dicts with "params", "weight_decay")."""

    def __init__(
        self, groups: list[dict[str, Any]], lr: float, betas: tuple[float, float], eps: float
    ):
        self.param_groups = [
            {
                "lr": lr,
                "betas": betas,
                "eps": eps,
                **TORCH_GROUP_KEYS,
                **g,
                "params": list(g["params"]),
            }
            for g in groups
        ]
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {
                        "step": torch.tensor(0.0, dtype=torch.float32),
                        "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                        "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                    }
                grad, m, v = p.grad, state["exp_avg"], state["exp_avg_sq"]
                state["step"] += 1
                if wd != 0:
                    p.mul_(1 - lr * wd)
                m.lerp_(grad, 1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                step = state["step"].item()
                step_size = lr / (1 - beta1**step)
                denom = (v.sqrt() / (1 - beta2**step) ** 0.5).add_(eps)
                p.addcdiv_(m, denom, value=-step_size)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    def state_dict(self) -> dict[str, Any]:
        """torch.optim's layout: parameters numbered in group order."""
        index, groups, state = 0, [], {}
        for group in self.param_groups:
            ids = list(range(index, index + len(group["params"])))
            for i, p in zip(ids, group["params"], strict=True):
                if p in self.state:
                    state[i] = {k: t.clone() for k, t in self.state[p].items()}
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
            index += len(ids)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        params = [p for g in self.param_groups for p in g["params"]]
        if [len(g["params"]) for g in saved["param_groups"]] != [
            len(g["params"]) for g in self.param_groups
        ]:
            raise ValueError("optimizer state does not match the model's parameter groups")
        ids = [i for g in saved["param_groups"] for i in g["params"]]
        for group, old in zip(self.param_groups, saved["param_groups"], strict=True):
            group.update({k: v for k, v in old.items() if k != "params"})
        self.state = {}
        for i, p in zip(ids, params, strict=True):
            if i in saved["state"]:
                s = saved["state"][i]
                self.state[p] = {
                    "step": s["step"].to(torch.float32).clone(),
                    "exp_avg": s["exp_avg"].to(p).clone(),
                    "exp_avg_sq": s["exp_avg_sq"].to(p).clone(),
                }
