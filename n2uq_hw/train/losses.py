"""Distillation loss: soft cross-entropy against a frozen teacher (temperature 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_cross_entropy(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``mean_batch( -sum_c softmax(teacher/T)_c * log_softmax(student/T)_c )``."""
    target = F.softmax(teacher.detach().float() / temperature, dim=1)
    return -(target * F.log_softmax(student.float() / temperature, dim=1)).sum(1).mean()
