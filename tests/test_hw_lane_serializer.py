"""LaneSerializer and LaneDeserializer: random vectors at random spacing (never closer than
``groups`` cycles) go through serializer -> deserializer unchanged and in order, each
slice on its own cycle with its index; a vector sent too soon raises ``overrun``."""

import random

import pytest
from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import wiring
from hw_sim import run_sim

from rtl_gen.hw.lane_deserializer import LaneDeserializer
from rtl_gen.hw.lane_serializer import LaneSerializer


class _Loop(wiring.Component):
    """Serializer straight into a deserializer, fields ``a`` (signed) and ``b``."""

    def __init__(self, lanes: int, groups: int) -> None:
        fields = {"a": signed(7), "b": unsigned(3)}
        self.ser = LaneSerializer(lanes, groups, fields)
        self.des = LaneDeserializer(lanes, groups, fields)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.ser, m.submodules.des = self.ser, self.des
        s, d = self.ser, self.des
        m.d.comb += [d.valid.eq(s.s_valid), d.slice.eq(s.s_slice), d.s_a.eq(s.s_a),
                     d.s_b.eq(s.s_b)]
        return m


@pytest.mark.parametrize(("lanes", "groups"), [(8, 4), (6, 3), (4, 1), (5, 5)])
def test_vectors_survive_the_round_trip(lanes, groups):
    rng = random.Random(lanes * 10 + groups)
    dut = _Loop(lanes, groups)
    vecs = [([rng.randint(-64, 63) for _ in range(lanes)],
             [rng.randint(0, 7) for _ in range(lanes)]) for _ in range(40)]
    got, slices = [], []

    async def bench(ctx):
        ser, des = dut.ser, dut.des
        i, wait = 0, 0
        for _ in range(40 * (groups + 4) + 20):
            send = i < len(vecs) and wait <= 0
            ctx.set(ser.valid, int(send))
            if send:
                for lane in range(lanes):
                    ctx.set(ser.a[lane], vecs[i][0][lane])
                    ctx.set(ser.b[lane], vecs[i][1][lane])
                i += 1
                wait = groups - 1 + rng.choice([0, 0, 1, 3])
            else:
                wait -= 1
            if ctx.get(ser.s_valid):
                slices.append(ctx.get(ser.s_slice))
            if ctx.get(des.out_valid):
                got.append(([ctx.get(des.a[j]) for j in range(lanes)],
                            [ctx.get(des.b[j]) for j in range(lanes)]))
            await ctx.tick()
        assert not ctx.get(ser.overrun)

    run_sim(dut, bench)
    assert got == vecs
    assert slices == list(range(groups)) * len(vecs)


def test_a_vector_sent_too_soon_sets_overrun():
    dut = LaneSerializer(8, 4, {"a": unsigned(4)})

    async def bench(ctx):
        for gap in (4, 2):  # the second vector is fine, the third comes 2 cycles later
            ctx.set(dut.valid, 1)
            await ctx.tick()
            ctx.set(dut.valid, 0)
            for _ in range(gap - 1):
                await ctx.tick()
            assert not ctx.get(dut.overrun)
        ctx.set(dut.valid, 1)
        await ctx.tick()
        ctx.set(dut.valid, 0)
        await ctx.tick()
        assert ctx.get(dut.overrun)

    run_sim(dut, bench)


@pytest.mark.parametrize("cls", [LaneSerializer, LaneDeserializer])
def test_groups_must_divide_lanes(cls):
    with pytest.raises(ValueError, match="groups must divide lanes"):
        cls(8, 3, {"a": unsigned(2)})
    with pytest.raises(ValueError, match="groups must be an integer"):
        cls(8, 0, {"a": unsigned(2)})
