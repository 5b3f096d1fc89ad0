"""make_act_quant / make_weight_quant build what a QuantSpec asks for."""

from __future__ import annotations

import pytest

from n2uq_hw.quant import (
    DoReFaActQuant,
    DoReFaWeightQuant,
    LSQActQuant,
    LSQWeightQuant,
    N2UQActQuant,
    N2UQWeightQuant,
    QuantSpec,
    make_act_quant,
    make_weight_quant,
)

CASES = {
    "n2uq": (N2UQActQuant, N2UQWeightQuant),
    "lsq": (LSQActQuant, LSQWeightQuant),
    "dorefa": (DoReFaActQuant, DoReFaWeightQuant),
}


@pytest.mark.parametrize("method", sorted(CASES))
@pytest.mark.parametrize("wbits,abits", ((2, 2), (3, 4), (8, 2), (4, 8)))
def test_factory_types_and_bits(method, wbits, abits):
    spec = QuantSpec(method, wbits, abits)
    act, weight = make_act_quant(spec), make_weight_quant(spec)
    assert type(act) is CASES[method][0] and act.bits == abits
    assert type(weight) is CASES[method][1] and weight.bits == wbits
    # fresh instances every call (no shared parameters between layers)
    assert make_act_quant(spec) is not act


def test_factory_full_precision():
    spec = QuantSpec("fp", None, None)
    assert make_act_quant(spec) is None
    assert make_weight_quant(spec) is None
