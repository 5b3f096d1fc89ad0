"""WeightBuffer: the compiler's packed weight stream written word by word into one half
reads back block by block (as digit arrays) from the other, while the next group fills."""

import numpy as np
import pytest
from hw_sim import run_sim

from rtl_gen.compile.image import pack, row_words
from rtl_gen.hw.weight_buffer import WeightBuffer


@pytest.mark.parametrize(("pe", "simd", "w_bits", "mem_bits"), [(2, 4, 2, 16), (3, 5, 3, 32),
                                                                (4, 8, 2, 64)])
def test_weight_buffer_round_trip_with_double_buffering(pe, simd, w_bits, mem_bits):
    rng = np.random.default_rng(pe)
    blocks = 5
    groups = [rng.integers(0, 2**w_bits, (blocks, pe * simd)) for _ in range(3)]
    words = row_words(pe * simd, w_bits, mem_bits)
    dut = WeightBuffer(pe, simd, w_bits, mem_bits, blocks)
    got = []

    def stream(g):
        raw = pack(g, w_bits, words, mem_bits)
        nb = mem_bits // 8
        return [int.from_bytes(raw[i: i + nb], "little") for i in range(0, len(raw), nb)]

    async def bench(ctx):
        for gi in range(len(groups) + 1):
            # fill half gi % 2 with group gi while reading group gi - 1 from the other half
            ctx.set(dut.w_half, gi % 2)
            ctx.set(dut.r_half, 1 - gi % 2)
            ws = stream(groups[gi]) if gi < len(groups) else []
            reads = list(range(blocks)) if gi else []
            for t in range(max(len(ws), len(reads))):
                ctx.set(dut.w_en, t < len(ws))
                if t < len(ws):
                    ctx.set(dut.w_addr, t)
                    ctx.set(dut.w_data, ws[t])
                ctx.set(dut.r_en, t < len(reads))
                if t < len(reads):
                    ctx.set(dut.r_block, reads[t])
                await ctx.tick()  # a read port returns the block after the edge it samples
                if t < len(reads):
                    got.append((gi - 1, reads[t], [[ctx.get(dut.r_data[p][j])
                                                    for j in range(simd)] for p in range(pe)]))

    run_sim(dut, bench)
    assert len(got) == len(groups) * blocks
    for gi, blk, val in got:
        assert np.array_equal(np.array(val).reshape(-1), groups[gi][blk]), (gi, blk)


def test_weight_buffer_rejects_bad_parameters():
    with pytest.raises(ValueError, match="WeightBuffer blocks must be an integer"):
        WeightBuffer(2, 2, 2, 32, 0)
