"""Atomic checkpoint folders and optimizer state in safetensors."""

from __future__ import annotations

import pytest
import torch

from arvid.training.checkpoint import (atomic_folder, optimizer_state_from_files, optimizer_state_to_files,
                                   resolve_checkpoint)


@pytest.mark.parametrize("interruption", [RuntimeError, KeyboardInterrupt])
def test_interrupted_write_leaves_old_folder(tmp_path, interruption):
    target = tmp_path / "ckpt"
    with atomic_folder(target) as staging:
        (staging / "config.json").write_text("old")
    with pytest.raises(interruption), atomic_folder(target, replaces=lambda _: True) as staging:
        (staging / "config.json").write_text("new")
        raise interruption
    assert (target / "config.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no staging folder left behind


def test_resolve_falls_back_to_old_after_crash_between_renames(tmp_path):
    old = tmp_path / "ckpt.old"
    old.mkdir()
    (old / "config.json").write_text("{}")
    assert resolve_checkpoint(tmp_path / "ckpt") == old
    with pytest.raises(FileNotFoundError):
        resolve_checkpoint(tmp_path / "elsewhere")


def test_optimizer_state_round_trip():
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    tensors, meta = optimizer_state_to_files(optimizer.state_dict())
    fresh = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=1e-3)
    fresh.load_state_dict(optimizer_state_from_files(tensors, meta))
    for a, b in zip(optimizer.state_dict()["state"].values(), fresh.state_dict()["state"].values()):
        for key in a:
            assert torch.equal(a[key], b[key])
