"""Fetch unit: chunk commands in, assembled activation lanes out.

The whole fetch contract (rtl_gen/compile/fetch.py) in one component: a
:class:`SegmentGenerator` turns each chunk command into word segments, a
:class:`StreamReader` reads their words in order (pad segments read nothing), and one
:class:`LaneAssembler` per input element width places the elements; the chunk leaves
through a small queue (one LUT RAM slice per lane) with the command's ``tag``. A command
is taken only while fewer than ``depth`` chunks are in flight or queued, so nothing
downstream ever overflows.

The consumer's pop reaches the unit a cycle late, from its own register (``popped``: "the
chunk shown last cycle was taken"), so its decision never drives this unit's pointers and
flags across the device; the outputs already show the chunk after a ``popped`` one. For
that the queue is two interleaved halves (chunk ``k`` in half ``k mod 2``): the shown
chunk is the head of half ``rt ^ popped`` (``rt``: the half of the oldest chunk not yet
``popped``), a select between two registered heads. ``level`` counts the chunks queued at
the output as of ``popped``: a consumer subtracts its own pending pop. Its ``bus`` goes to
the memory port or to the on-chip activation buffer. Layer constants (``sel`` and the
segment generator's) are held by the caller from at least one cycle before the first
command.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw import fifo
from rtl_gen.hw.common import check_ints
from rtl_gen.hw.lane_assembler import LaneAssembler, assembler_latency
from rtl_gen.hw.lane_pick import LanePick
from rtl_gen.hw.mem_port import MemPortSignature
from rtl_gen.hw.segment_generator import SegmentGenerator
from rtl_gen.hw.stream_reader import StreamReader


class FetchUnit(wiring.Component):
    """``lanes`` lanes of elements of any width in ``in_bits`` (selected by ``sel``)."""

    def __init__(self, lanes: int, in_bits: tuple[int, ...], mem_bits: int, addr_bits: int,
                 tag_bits: int, depth: int = 2, reader_depth: int = 16,
                 dim_bits: int = 12) -> None:
        check_ints("FetchUnit", lanes=(lanes, 1, 1024), tag_bits=(tag_bits, 1, 2048),
                   depth=(depth, 1, 64), n_widths=(len(in_bits), 1, 8))
        self.lanes, self.in_bits, self.mem_bits = lanes, tuple(in_bits), mem_bits
        self.bits = max(in_bits)
        self.depth, self.tag_bits, self.dim_bits = depth, tag_bits, dim_bits
        self.sg = SegmentGenerator(lanes, addr_bits, dim_bits)
        self.rd = StreamReader(addr_bits, mem_bits, tag_bits=1 + 2 * (lanes.bit_length()) + 8,
                               depth=reader_depth)
        lat = max(assembler_latency(b, mem_bits) for b in self.in_bits)
        self.las = [LaneAssembler(lanes, b, mem_bits, lat) for b in self.in_bits]
        dim, sdim = dim_bits, signed(dim_bits + 1)
        lane = range(lanes + 1)
        super().__init__({
            # layer constants
            "cin": In(dim), "k": In(dim), "h": In(dim), "w": In(dim), "epw": In(8),
            "wpp": In(dim), "base": In(addr_bits), "sel": In(range(len(in_bits))),
            # chunk command
            "cmd_valid": In(1), "cmd_ready": Out(1), "iy0": In(sdim), "ix0": In(sdim),
            "ky0": In(dim), "kx0": In(dim), "c0": In(dim), "n": In(lane), "tag": In(tag_bits),
            # chunk out ("popped": the chunk shown in the previous cycle was taken)
            "valid": Out(1), "popped": In(1),
            # the same, unselected: each half's head (valid, tag) and ``rt``, all registers,
            # so a consumer can form ``valid``/``out_tag`` beside its own ``popped``
            "rt": Out(1), "head_valid": Out(2), "head_tag": Out(data.ArrayLayout(tag_bits, 2)),
            "out_lanes": Out(data.ArrayLayout(unsigned(self.bits), lanes)),
            "out_pad": Out(lanes), "out_tag": Out(tag_bits),
            "bus": Out(MemPortSignature(addr_bits, mem_bits)),
            "level": Out(range(depth + 1)),  # chunks queued at the output
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        sg, rd = self.sg, self.rd
        m.submodules.sg, m.submodules.rd = sg, rd
        for i, la in enumerate(self.las):
            m.submodules[f"la{i}"] = la
        wiring.connect(m, wiring.flipped(self.bus), rd.bus)
        for name in ("cin", "k", "h", "w", "epw", "wpp", "base"):
            m.d.comb += getattr(sg, name).eq(getattr(self, name))
        # credits: chunks accepted and not yet popped
        inflight = Signal(range(self.depth + 1))
        take = Signal()
        pop = Signal()
        m.d.comb += [sg.cmd_valid.eq(self.cmd_valid & (inflight < self.depth)),
                     take.eq(sg.cmd_valid & sg.cmd_ready), self.cmd_ready.eq(take)]
        for name in ("iy0", "ix0", "ky0", "kx0", "c0", "n"):
            m.d.comb += getattr(sg, name).eq(getattr(self, name))
        m.d.sync += inflight.eq(inflight + take - pop)
        # tags wait in order for their chunk
        m.submodules.tags = tags = fifo.SyncFIFO(width=self.tag_bits, depth=self.depth)
        m.d.comb += [tags.w_en.eq(take), tags.w_data.eq(self.tag)]
        # segments -> reads (the segment's placement rides as the read's tag)
        lb = self.lanes.bit_length()
        m.d.comb += [rd.a_valid.eq(sg.valid), sg.ready.eq(rd.a_ready), rd.a_addr.eq(sg.addr),
                     rd.a_skip.eq(sg.is_pad),
                     rd.a_tag.eq(Cat(sg.last, sg.lane0[:lb], sg.count[:lb], sg.e0)),
                     rd.ready.eq(1)]
        last, lane0, count, e0 = (rd.tag[0], rd.tag[1:1 + lb], rd.tag[1 + lb:1 + 2 * lb],
                                  rd.tag[1 + 2 * lb:])
        for la in self.las:
            m.d.comb += [la.valid.eq(rd.valid), la.last.eq(last), la.is_pad.eq(rd.skip),
                         la.word.eq(rd.data), la.lane0.eq(lane0), la.count.eq(count),
                         la.e0.eq(e0)]
        # assembled chunk -> output queues, two interleaved halves: the tags in buffered
        # FIFOs (their flags are the counts), so the consumer's handshake reads registers
        # (``valid``, ``out_tag``), not a RAM; each lane's element and pad flag in its own
        # LUT RAM slices, written and read with the tags (nothing overflows: the credits)
        half = max(2, -(-self.depth // 2))
        wr = self.las[0].out_valid
        wt, rt = Signal(name="wt"), Signal(name="rt")  # the half written / read next
        shown = Signal(name="shown")  # the half whose head the consumer sees
        m.d.comb += [shown.eq(rt ^ self.popped), pop.eq(self.popped),
                     tags.r_en.eq(wr)]
        with m.If(wr):
            m.d.sync += wt.eq(~wt)
        with m.If(pop):
            m.d.sync += rt.eq(~rt)
        qts = []
        for h in range(2):
            qt = fifo.SyncFIFOBuffered(width=self.tag_bits, depth=half)
            m.submodules[f"qt{h}"] = qt
            m.d.comb += [qt.w_en.eq(wr & (wt == h)), qt.w_data.eq(tags.r_data),
                         qt.r_en.eq(pop & (rt == h))]
            qts.append(qt)
        level = Signal.like(self.level)
        m.d.sync += level.eq(level + wr - pop)
        # the element width in use, a layer constant: each lane's select registers its own
        # one-hot copy (LanePick), beside it, not one register for every lane
        for j in range(self.lanes):
            pick = LanePick(self.in_bits)
            m.submodules[f"pick{j}"] = pick
            m.d.comb += pick.sel.eq(self.sel)
            m.d.comb += [getattr(pick, f"opt{i}").eq(la.lanes[j])
                         for i, la in enumerate(self.las)]
            lane = pick.out
            heads = []
            for h in range(2):
                q = fifo.Storage(width=self.bits + 1, depth=half)
                m.submodules[f"q{j}_{h}"] = q
                m.d.comb += [q.w_data.eq(Cat(lane, self.las[0].pad[j])),
                             q.w_en.eq(wr & (wt == h)), q.r_en.eq(pop & (rt == h))]
                heads.append(q.r_data)
            head = Mux(shown, heads[1], heads[0])
            m.d.comb += [self.out_lanes[j].eq(head[:self.bits]),
                         self.out_pad[j].eq(head[self.bits])]
        m.d.comb += [self.rt.eq(rt), self.head_valid.eq(Cat(qts[0].r_rdy, qts[1].r_rdy)),
                     self.head_tag[0].eq(qts[0].r_data), self.head_tag[1].eq(qts[1].r_data)]
        m.d.comb += [self.valid.eq(Mux(shown, qts[1].r_rdy, qts[0].r_rdy)),
                     self.out_tag.eq(Mux(shown, qts[1].r_data, qts[0].r_data)),
                     self.level.eq(level)]
        return m
