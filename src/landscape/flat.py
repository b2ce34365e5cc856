"""Parameter lists as vectors: one network's tensors ↔ a vector (n,); an ensemble's member-first tensors ↔ rows
(E, n), one row per member."""

from __future__ import annotations

import torch


def flatten(tensors) -> torch.Tensor:
    """Tensors → one vector (n,)."""
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(vector: torch.Tensor, like) -> list[torch.Tensor]:
    """A vector (n,) → tensors shaped like `like` (views)."""
    out, i = [], 0
    for t in like:
        out.append(vector[i:i + t.numel()].view_as(t))
        i += t.numel()
    return out


def flatten_rows(tensors) -> torch.Tensor:
    """Tensors with a leading axis m → (m, n)."""
    return torch.cat([t.reshape(t.shape[0], -1) for t in tensors], 1)


def unflatten_rows(V: torch.Tensor, like) -> list[torch.Tensor]:
    """Each row of V (m, n) as tensors shaped like `like`: a list of (m, *t.shape)."""
    out, i = [], 0
    for t in like:
        out.append(V[:, i:i + t.numel()].reshape(V.shape[0], *t.shape))
        i += t.numel()
    return out
