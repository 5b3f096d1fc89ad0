"""Lowering: a trained (or seeded, calibrated) N2UQ model -> integer-only IR (docs/IR.md)."""

from n2uq_hw.lower.lowering import LowerResult, calibrate_bn, lower_model, trace

__all__ = ["LowerResult", "calibrate_bn", "lower_model", "trace"]
