"""Quantizers: N2UQ (nonuniform thresholds, uniform levels), LSQ and DoReFa baselines.

Every activation quantizer maps a float tensor to unsigned integer codes ``k`` and
returns ``k * step``; every weight quantizer maps a weight tensor to signed integer
codes times a scale. The integer codes are exposed through ``codes()`` so that the
lowering never has to divide float outputs.
"""

from n2uq_hw.quant.activation import N2UQActQuant
from n2uq_hw.quant.base import (
    ActQuantizer,
    QuantSpec,
    WeightQuantizer,
    check_bits,
    quantizer_parameters,
)
from n2uq_hw.quant.dorefa import DoReFaActQuant, DoReFaWeightQuant
from n2uq_hw.quant.factory import make_act_quant, make_weight_quant
from n2uq_hw.quant.layers import QConv2d, QLinear
from n2uq_hw.quant.lsq import LSQActQuant, LSQWeightQuant
from n2uq_hw.quant.rprelu import LearnableBias, RPReLU
from n2uq_hw.quant.weight import N2UQWeightQuant

__all__ = [
    "ActQuantizer",
    "DoReFaActQuant",
    "DoReFaWeightQuant",
    "LSQActQuant",
    "LSQWeightQuant",
    "LearnableBias",
    "N2UQActQuant",
    "N2UQWeightQuant",
    "QConv2d",
    "QLinear",
    "QuantSpec",
    "RPReLU",
    "WeightQuantizer",
    "check_bits",
    "make_act_quant",
    "make_weight_quant",
    "quantizer_parameters",
]
