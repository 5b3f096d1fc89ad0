"""Loader: the engine's program reader (descriptors, chunk tables, activations, parameters,
weights), one :class:`BurstReader` on the memory port.

Per layer: the descriptor (its fields become the registers ``desc.<field>``), the chunk
table, the layer input into the activation buffer when the descriptor says it fits, then
``layer_go``; then per output-channel group ``g`` its parameter rows into the parameter
bank's shadow and (conv) its weight blocks into weight-buffer half ``g mod 2``, after which
``shadow_full`` is set. The next group loads once the computation has ``copied`` the shadow
(so the loader runs at most one group ahead and never writes the half being read). The
next layer starts after ``layer_done``. Tables are 64-bit slots (rtl_gen/compile/
descriptor.py): a narrower port's words are gathered, least significant first.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.compile.descriptor import EngineSpec, slot_words
from rtl_gen.hw import pipelined as pl
from rtl_gen.hw.common import below_two
from rtl_gen.hw.mem_port import BurstReader, MemPortSignature

FLAGS = {"abuf", "res_en", "en_requant", "en_add", "en_rprelu"}


def desc_shape(name: str, spec: EngineSpec):
    """Register shape of a descriptor field."""
    if name in FLAGS or name.endswith("_en"):
        return 1
    if name.endswith(("_lo", "_hi")):
        return signed(spec.w["fixed"])
    return 32


class Loader(wiring.Component):
    """Sequences every read of the engine's program; see the module docstring."""

    # cycles, at least, from a descriptor's last field to ``layer_go`` (SETTLE2, CHUNK_GO,
    # CHUNK, ABUF_GO, LAYER_GO: one or more each): what the walkers may take to settle
    settle = 5

    def __init__(self, spec: EngineSpec, params: list[tuple[str, int]]) -> None:
        self.spec, self.n_fields = spec, len(params)
        self.wps = slot_words(spec.mem_bits)
        ab = spec.addr_bits
        wb = WeightBufferShape(spec)
        # descriptor fields are loaded before each layer reads them: no reset
        self.desc = SimpleNamespace(**{f: Signal(desc_shape(f, spec), name=f"d_{f}",
                                                 reset_less=True)
                                       for f in spec.desc_fields})
        super().__init__({
            "bus": Out(MemPortSignature(ab, spec.mem_bits)),
            "start": In(1), "base": In(ab), "busy": Out(1), "done": Out(1), "layer": Out(16),
            "layer_go": Out(1), "layer_done": In(1), "shadow_full": Out(1), "copied": In(1),
            "chunk_en": Out(1), "chunk_addr": Out(range(max(2, spec.chunk_depth))),
            "chunk_data": Out(64),
            "abuf_en": Out(1), "abuf_addr": Out(range(max(2, spec.abuf_words))),
            "abuf_data": Out(spec.mem_bits),
            "param_en": Out(1), "param_chan": Out(range(spec.pe)),
            "param_field": Out(range(len(params))), "param_data": Out(64),
            "wt_en": Out(1), "wt_addr": Out(range(wb)), "wt_data": Out(spec.mem_bits),
            "wt_half": Out(1),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        sp, wps, d = self.spec, self.wps, self.desc
        ab = sp.addr_bits
        rd = BurstReader(ab, sp.mem_bits, count_bits=24, depth=16)
        m.submodules.rd = rd
        wiring.connect(m, rd.bus, wiring.flipped(self.bus))
        m.d.comb += rd.ready.eq(1)
        # the words and gathered slots are registered once before anything uses them, so
        # the strobes that enable the descriptor, table and buffer writes are flip-flops
        word, word_data = Signal(), Signal(sp.mem_bits)  # one word arrives
        m.d.sync += [word.eq(rd.valid), word_data.eq(rd.data)]
        slot_ok = Signal()
        slot = Signal(64)
        if wps == 1:
            m.d.comb += [slot_ok.eq(word), slot.eq(word_data)]
        else:
            prev = Signal(64 - sp.mem_bits)
            wi = Signal(range(wps))
            with m.If(rd.valid):
                m.d.sync += [prev.eq(Cat(prev[sp.mem_bits:], rd.data)), wi.eq(wi + 1)]
                with m.If(wi == wps - 1):
                    m.d.sync += wi.eq(0)
            m.d.sync += [slot_ok.eq(rd.valid & (wi == wps - 1)), slot.eq(Cat(prev, rd.data))]
        idx = Signal(32)
        nlayers, layer = Signal(16), Signal(16)
        desc_addr, paddr, waddr = Signal(ab), Signal(ab), Signal(ab)
        grp = Signal(16)
        chan = Signal(range(sp.pe))
        field = Signal(range(self.n_fields))
        shadow_full = Signal()
        busy, done = Signal(), Signal()
        m.d.comb += [self.busy.eq(busy), self.done.eq(done), self.layer.eq(layer),
                     self.shadow_full.eq(shadow_full),
                     self.chunk_data.eq(slot), self.chunk_addr.eq(idx),
                     self.abuf_data.eq(word_data), self.abuf_addr.eq(idx),
                     self.param_data.eq(slot), self.param_chan.eq(chan),
                     self.param_field.eq(field),
                     self.wt_data.eq(word_data), self.wt_addr.eq(idx), self.wt_half.eq(grp[0])]
        with m.If(self.copied):
            m.d.sync += shadow_full.eq(0)
        n_desc = len(sp.desc_fields)
        # the descriptor's registers in a module of their own, which registers the slot
        # again (the slot register also feeds the chunk table and every parameter channel)
        m.submodules.desc = dregs = DescriptorRegs(d, sp.desc_fields)
        m.d.comb += [dregs.slot.eq(slot), dregs.slot_ok.eq(slot_ok)]
        group_slots = sp.pe * self.n_fields * wps

        # bursts start from registers, a cycle after the state that asks for them: the
        # choice of base and count (by state) stays inside the loader, and the states that
        # follow a request only wait for its items, never for the reader's idle (a _GO
        # state loads base and count on every cycle: the reader's idle gates only the start)
        rd_start, rd_base, rd_count = Signal(), Signal.like(rd.base), Signal.like(rd.count)
        m.d.comb += [rd.start.eq(rd_start), rd.base.eq(rd_base), rd.count.eq(rd_count)]
        m.d.sync += rd_start.eq(0)

        def burst(base, count) -> list:
            return [rd_start.eq(1), rd_base.eq(base), rd_count.eq(count)]

        # the layer's burst lengths (less one, "is one") and weight run, registered from the
        # descriptor, which holds through the layer: no multiply, subtraction or wide compare
        # in front of a state's choice (SETTLE2 gives the chunk run's a cycle after the last
        # field lands; the others are read later).
        def held(v, name: str, shape=1) -> Signal:
            return pl.reg(m, v, name, shape)

        chunks_m1 = held(d.chunks - 1, "chunks_m1", 32)
        chunks_1 = held(d.chunks == 1, "chunks_1")
        chunk_words = held(d.chunks * wps, "chunk_words", 32)
        in_m1 = held(d.in_words - 1, "in_m1", 32)
        in_1 = held(d.in_words == 1, "in_1")
        wlen = held(d.blocks * self.wpb, "wlen", 32)
        wlen_m1 = held(wlen - 1, "wlen_m1", 32)
        wlen_1 = held(wlen == 1, "wlen_1")
        no_blocks = held(d.blocks == 0, "no_blocks")
        groups_0 = held(d.groups == 0, "groups_0")
        grp_end_next = held(grp + 1 == d.groups, "grp_end_next")  # grp moves rarely
        last_layer = held(layer == nlayers - 1, "last_layer")
        grp_end = Signal()

        def counter(name: str, items_m1, items_1, strobe) -> SimpleNamespace:
            """One burst's item counter: items still due less one and a registered "the
            next item is the last" flag. Each burst has its own, which loads its length on
            every cycle it is not running (``run``, a flip-flop set by :func:`go` and
            cleared by the last item): no choice among burst lengths by the state and no
            wide compare in front of a state change."""
            c = SimpleNamespace(run=Signal(name=f"run_{name}"),
                                left=Signal(32, name=f"left_{name}"),
                                last=Signal(name=f"last_{name}"), strobe=strobe)
            with m.If(~c.run):
                m.d.sync += [c.left.eq(items_m1), c.last.eq(items_1)]
            with m.Elif(strobe):
                m.d.sync += [c.left.eq(c.left - 1), c.last.eq(below_two(c.left))]
                with m.If(c.last):
                    m.d.sync += c.run.eq(0)
            return c

        def go(base, count, nxt: str, c: SimpleNamespace) -> None:
            """Start a burst once the reader is idle, then receive its items (counted by
            ``c``) in state ``nxt``. Base and count load on every cycle of the waiting
            state, so the reader's ``idle`` gates only the start."""
            m.d.sync += [idx.eq(0), rd_base.eq(base), rd_count.eq(count)]
            with m.If(rd.idle):
                m.d.sync += [rd_start.eq(1), c.run.eq(1)]
                m.next = nxt

        c_desc = counter("desc", n_desc - 1, int(n_desc == 1), slot_ok)
        c_chunk = counter("chunk", chunks_m1, chunks_1, slot_ok)
        c_abuf = counter("abuf", in_m1, in_1, word)
        c_wt = counter("wt", wlen_m1, wlen_1, word)

        # layer_go is a flip-flop, high for the cycle in LAYER_GO: set by the transitions
        # into it, not decoded from the state (it restarts every walker across the device)
        layer_go = Signal()
        m.d.sync += layer_go.eq(0)
        m.d.comb += self.layer_go.eq(layer_go)

        def to(nxt: str) -> None:
            m.next = nxt
            if nxt == "LAYER_GO":
                m.d.sync += layer_go.eq(1)

        def receive(c: SimpleNamespace, nxt: str, en=None) -> None:
            """Count the burst's items (``c.strobe``) in ``idx``; the last one ends it."""
            if en is not None:
                m.d.comb += en.eq(c.strobe)
            with m.If(c.strobe):
                m.d.sync += idx.eq(idx + 1)
                with m.If(c.last):
                    to(nxt)

        with m.FSM():
            with m.State("IDLE"), m.If(self.start):
                m.d.sync += burst(self.base, wps)
                m.d.sync += [busy.eq(1), done.eq(0), layer.eq(0),
                             desc_addr.eq(self.base + wps)]
                m.next = "HDR"
            with m.State("HDR"), m.If(slot_ok):
                m.d.sync += nlayers.eq(slot)
                m.next = "DESC_GO"
            with m.State("DESC_GO"):
                go(desc_addr, n_desc * wps, "DESC", c_desc)
                m.d.comb += dregs.start.eq(rd.idle)
            with m.State("DESC"):
                receive(c_desc, "SETTLE")
            with m.State("SETTLE"):  # the last field lands (DescriptorRegs' own register)
                m.next = "SETTLE2"
            with m.State("SETTLE2"):  # the chunk run's registers take the new descriptor
                m.next = "CHUNK_GO"
            with m.State("CHUNK_GO"):
                go(d.chunk_base, chunk_words, "CHUNK", c_chunk)
            with m.State("CHUNK"):
                receive(c_chunk, "ABUF_GO", self.chunk_en)
            with m.State("ABUF_GO"):
                with m.If(~d.abuf):
                    to("LAYER_GO")
                with m.Else():
                    go(d.in_base, d.in_words, "ABUF", c_abuf)
            with m.State("ABUF"):
                receive(c_abuf, "LAYER_GO", self.abuf_en)
            with m.State("LAYER_GO"):
                m.d.sync += [grp.eq(0), paddr.eq(d.pbase), waddr.eq(d.wbase),
                             grp_end.eq(groups_0)]
                m.next = "GRP"
            with m.State("GRP"):
                with m.If(grp_end):
                    m.next = "WAIT_DONE"
                with m.Elif(~shadow_full & rd.idle):
                    m.d.sync += burst(paddr, group_slots)
                    m.d.sync += [chan.eq(0), field.eq(0)]
                    m.next = "PARAMS"
            with m.State("PARAMS"):
                m.d.comb += self.param_en.eq(slot_ok)
                with m.If(slot_ok):
                    m.d.sync += field.eq(field + 1)
                    with m.If(field == self.n_fields - 1):
                        m.d.sync += [field.eq(0), chan.eq(chan + 1)]
                        with m.If(chan == sp.pe - 1):
                            m.next = "W_GO"
            with m.State("W_GO"):
                with m.If(no_blocks):
                    m.next = "GRP_DONE"
                with m.Else():
                    go(waddr, wlen, "WEIGHTS", c_wt)
            with m.State("WEIGHTS"):
                receive(c_wt, "GRP_DONE", self.wt_en)
            with m.State("GRP_DONE"):
                m.d.sync += [shadow_full.eq(1), grp.eq(grp + 1), grp_end.eq(grp_end_next),
                             paddr.eq(paddr + group_slots), waddr.eq(waddr + wlen)]
                m.next = "GRP"
            with m.State("WAIT_DONE"), m.If(self.layer_done):
                m.d.sync += [layer.eq(layer + 1), desc_addr.eq(desc_addr + n_desc * wps)]
                with m.If(last_layer):
                    m.d.sync += [busy.eq(0), done.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.next = "DESC_GO"
        return m

    @property
    def wpb(self) -> int:
        """Memory words per weight block."""
        from rtl_gen.compile.image import row_words

        return row_words(self.spec.pe * self.spec.simd, self.spec.w_bits, self.spec.mem_bits)


class DescriptorRegs(wiring.Component):
    """The descriptor's field registers (``desc``, loaded before each layer reads them, so
    without reset): slot ``i`` of the burst after ``start`` goes to field ``i`` by a one-hot
    select shifted per slot. The slot and its strobe reach the fields through a register
    copy per group of ``GROUP`` consecutive fields (each a :class:`SlotCopy` module: Yosys
    merges equal registers within a module), so no register fans out to every field: the
    fields sit by their consumers across the device, and one slot register had reached
    them all in one net (10.5 ns, a routed critical path). Fields land one cycle after
    their slot."""

    GROUP = 8

    def __init__(self, desc: SimpleNamespace, fields: list[str]) -> None:
        if not fields:
            raise ValueError("DescriptorRegs needs at least one field")
        self.desc, self.fields = desc, list(fields)
        super().__init__({"slot": In(64), "slot_ok": In(1), "start": In(1)})

    def elaborate(self, platform) -> Module:
        m = Module()
        ok, start = Signal(), Signal()
        dsel = Signal(len(self.fields))
        # start registered too (it is decoded from the loader's state): the burst's first
        # slot comes at least two cycles after it, and one cycle after that from a copy
        m.d.sync += [ok.eq(self.slot_ok), start.eq(self.start)]
        with m.If(start):
            m.d.sync += dsel.eq(1)
        with m.Elif(ok):
            m.d.sync += dsel.eq(dsel << 1)
        for g in range(0, len(self.fields), self.GROUP):
            cp = SlotCopy()
            m.submodules[f"copy{g // self.GROUP}"] = cp
            m.d.comb += [cp.slot.eq(self.slot), cp.slot_ok.eq(self.slot_ok)]
            for i in range(g, min(g + self.GROUP, len(self.fields))):
                with m.If(cp.ok & dsel[i]):
                    m.d.sync += getattr(self.desc, self.fields[i]).eq(cp.q)
        return m


class SlotCopy(wiring.Component):
    """One registered copy of the loader's slot and its strobe (a module of its own, so
    copies stay apart in synthesis)."""

    def __init__(self) -> None:
        super().__init__({"slot": In(64), "slot_ok": In(1), "q": Out(64), "ok": Out(1)})

    def elaborate(self, platform) -> Module:
        m = Module()
        q = Signal(64, reset_less=True)
        m.d.sync += [q.eq(self.slot), self.ok.eq(self.slot_ok)]
        m.d.comb += self.q.eq(q)
        return m


def WeightBufferShape(spec: EngineSpec) -> int:
    """Word addresses of one weight-buffer half (``w_addr``'s range)."""
    from rtl_gen.compile.image import row_words

    return 2 * spec.wbuf_blocks * row_words(spec.pe * spec.simd, spec.w_bits, spec.mem_bits)
