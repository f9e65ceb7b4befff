"""AdamW takes its fused kernel on the CPU too, and the fused update is the per-tensor one."""

from __future__ import annotations

import torch
from torch import nn

from foundry.training.loop.optim import build_optimizer, parameter_groups


def make_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(50, 16), nn.LayerNorm(16), nn.Linear(16, 5))


def test_the_fused_kernel_is_used_on_the_cpu_and_matches_the_per_tensor_update() -> None:
    fused_model, plain_model = make_model(), make_model()
    fused = build_optimizer(fused_model, 1e-2, 0.01)
    plain = torch.optim.AdamW(parameter_groups(plain_model, 0.01), lr=1e-2, foreach=False, fused=False)
    assert fused.defaults["fused"] is True
    tokens = torch.randint(0, 50, (4, 7))
    for _ in range(3):
        for model, optimizer in ((fused_model, fused), (plain_model, plain)):
            model(tokens).square().mean().backward()
            optimizer.step()
            optimizer.zero_grad()
    for a, b in zip(fused_model.parameters(), plain_model.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)
    before = dict(make_model().named_parameters())
    assert not torch.equal(dict(fused_model.named_parameters())["2.weight"], before["2.weight"])  # it trained
