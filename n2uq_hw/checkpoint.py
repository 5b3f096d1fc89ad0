"""Checkpoints: atomic writes, validated loads, strict initialisation from FP weights."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from n2uq_hw.errors import fail

FORMAT = "n2uq-hw-checkpoint"
VERSION = 1


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, *, require_format: bool = True) -> dict[str, Any]:
    """Load a checkpoint file; one clear error when it is missing, corrupt or foreign.

    With ``require_format=False`` a plain state dict (name -> tensor) is accepted too and
    returned as ``{"state_dict": ...}``.
    """
    path = Path(path)
    if not path.is_file():
        fail(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a damaged file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"checkpoint {path} is corrupt or not a PyTorch checkpoint ({reason[:120]})")
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        if obj.get("version") != VERSION:
            fail(f"checkpoint {path} has format version {obj.get('version')}, expected {VERSION}")
        for key in ("model", "state_dict"):
            if key not in obj:
                fail(f"checkpoint {path} is missing its {key!r} entry")
        return obj
    if not require_format and isinstance(obj, dict) and obj and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        return {"state_dict": obj}
    fail(f"checkpoint {path} is not an n2uq-hw checkpoint")


def expect_model(ckpt: dict[str, Any], name: str, path: str | Path) -> None:
    """Fail unless ``ckpt`` was written for registry model ``name``."""
    if ckpt.get("model") != name:
        fail(f"checkpoint {path} is for model {ckpt.get('model')!r}, not {name!r}")


def _is_quantizer_key(model: nn.Module, key: str) -> bool:
    owner, _, _ = key.rpartition(".")
    try:
        module = model.get_submodule(owner)
    except AttributeError:
        return False
    return bool(getattr(module, "is_quantizer", False))


def init_from_state_dict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> str:
    """Copy ``state`` into ``model`` with a strict key check; return a one-line report.

    Only quantizer parameters may be missing (an FP checkpoint has none; they keep their
    initial values). Any other missing key, any unexpected key and any shape mismatch is
    an error that lists the offending keys.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    bad_missing = [k for k in missing if not _is_quantizer_key(model, k)]
    shapes = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]

    def _short(keys: list[str]) -> str:
        return ", ".join(keys[:8]) + (f" (+{len(keys) - 8} more)" if len(keys) > 8 else "")

    if bad_missing or unexpected or shapes:
        parts = []
        if bad_missing:
            parts.append(f"missing keys: {_short(bad_missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_short(unexpected)}")
        if shapes:
            parts.append(f"shape mismatch: {_short(shapes)}")
        fail(f"checkpoint {source} does not match the model: " + "; ".join(parts))
    model.load_state_dict({k: state[k] for k in own if k in state}, strict=False)
    loaded = len(own) - len(missing)
    return (
        f"initialised {loaded} tensors from {source}; "
        f"{len(missing)} quantizer tensors keep their initial values"
    )
