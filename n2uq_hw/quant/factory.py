"""Build the quantizers a :class:`QuantSpec` asks for."""

from __future__ import annotations

from n2uq_hw.quant.activation import N2UQActQuant
from n2uq_hw.quant.base import ActQuantizer, QuantSpec, WeightQuantizer
from n2uq_hw.quant.dorefa import DoReFaActQuant, DoReFaWeightQuant
from n2uq_hw.quant.lsq import LSQActQuant, LSQWeightQuant
from n2uq_hw.quant.weight import N2UQWeightQuant

_ACT = {"n2uq": N2UQActQuant, "lsq": LSQActQuant, "dorefa": DoReFaActQuant}
_WEIGHT = {"n2uq": N2UQWeightQuant, "lsq": LSQWeightQuant, "dorefa": DoReFaWeightQuant}


def make_act_quant(spec: QuantSpec) -> ActQuantizer | None:
    """Activation quantizer for ``spec``, or None at full precision."""
    return _ACT[spec.method](spec.abits) if spec.quantized else None


def make_weight_quant(spec: QuantSpec) -> WeightQuantizer | None:
    """Weight quantizer for ``spec``, or None at full precision."""
    return _WEIGHT[spec.method](spec.wbits) if spec.quantized else None
