"""The engine's top level: one memory port, ``start``/``done``, a compiled program in memory.

``start`` (with ``base``, the word address of the program header, rtl_gen/compile/
descriptor.py) runs every layer of the program; ``done`` rises when the last layer's
outputs are written and stays high until the next ``start``. Inside (docs/ARCHITECTURE.md
"The engine's top level"):

- the :class:`~rtl_gen.hw.loader.Loader` reads each layer's descriptor and chunk table, the
  layer input into the activation buffer when it fits, and per output-channel group the
  parameters (into the :class:`ParamBank` shadow) and weights (into the free half of the
  :class:`WeightBuffer`), one group ahead of the computation;
- the :class:`ChunkWalker` sends ``(og, pixel, chunk)`` commands to the activation
  :class:`FetchUnit` (activation buffer or memory port); the beat issuer turns each chunk
  into its digit beats (operand stage + weight block -> :class:`Datapath`), or feeds pool
  layers' chunks to the :class:`PoolUnit`; it starts a pixel only when its residual has
  arrived (a second fetch unit reads it, driven by the :class:`ResidualWalker`) and the
  output queue has room, and a new group only when the epilogue has drained and the group's
  parameters are loaded;
- each pixel's rows leave through one :class:`RowWriter` per (value, width) the program
  writes, at the addresses the :class:`OutputWalker` keeps.

Every memory client shares the port through the :class:`BusArbiter` (writers first, the
loader last). ``elaborate`` wires the parts; each private ``_<part>`` method builds one.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.compile.descriptor import EngineSpec, slot_words
from rtl_gen.hw import fifo
from rtl_gen.hw.bus_arbiter import BusArbiter
from rtl_gen.hw.chunk_walker import ChunkWalker
from rtl_gen.hw.common import WRAP_SETTLE, lagging_wrap_counter
from rtl_gen.hw.datapath import Datapath
from rtl_gen.hw.fetch_unit import FetchUnit
from rtl_gen.hw.loader import Loader, desc_shape
from rtl_gen.hw.mem_port import MemPortSignature
from rtl_gen.hw.operand_stage import OperandStage
from rtl_gen.hw.output_walker import OutputWalker
from rtl_gen.hw.param_bank import ParamBank
from rtl_gen.hw.pipelined import BOUND_LATENCY, area_m1, delay, reg
from rtl_gen.hw.pool_unit import PoolUnit
from rtl_gen.hw.residual_walker import ResidualWalker
from rtl_gen.hw.row_writer import CAPACITY, RowWriter
from rtl_gen.hw.weight_buffer import WeightBuffer

# pixels in flight from the issuer to the writers: covers the datapath's latency when a
# pixel takes few cycles (1 x 1 convolutions, pools)
OUT_DEPTH = 16
FETCH_DEPTH = 24  # chunks in flight in the activation fetch unit: covers its ~18-cycle latency
RES_DEPTH = 16  # residual rows read ahead
DIM = 12  # bits of every loop bound and coordinate
# every walker's loop bounds (and the issuer's pixel count) settle between the descriptor's
# last field and layer_go, which restarts them
assert max(ChunkWalker.settle, ResidualWalker.settle, OutputWalker.settle,
           BOUND_LATENCY + WRAP_SETTLE) <= Loader.settle


def param_shapes(spec: EngineSpec, thr_bits: int) -> list[tuple[str, int]]:
    """(field, width) of the parameter bank, in the program's table order."""
    w = spec.w
    widths = {"init": w["acc"], "mult": w["mult"], "bias": w["bias"], "bias1": w["param"],
              "slope": w["param"], "bias2": w["param"]}
    return [(f, widths.get(f, thr_bits)) for f in spec.param_fields]


class Engine(wiring.Component):
    """The accelerator generated for ``spec``."""

    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec
        w = spec.w
        self.wps = slot_words(spec.mem_bits)
        self.dp = Datapath(spec.pe, spec.simd, spec.a_bits, spec.w_bits, ow_bits=w["ow"],
                           acc_bits=w["acc"], fixed_bits=w["fixed"], mult_bits=w["mult"],
                           bias_bits=w["bias"], param_bits=w["param"], code_bits=w["code"],
                           two_sided=bool(w["two_sided"]), epi_lanes=spec.epi,
                           cells=spec.cells)
        self.thr_bits = self.dp.epi.thr[0].t_bits
        self.n_writers = len(spec.writers)
        super().__init__({
            "bus": Out(MemPortSignature(spec.addr_bits, spec.mem_bits)),
            "start": In(1), "base": In(spec.addr_bits),
            "busy": Out(1), "done": Out(1), "layer": Out(16),
            "overrun": Out(1),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        sp, dp = self.spec, self.dp
        pe, simd, ab = sp.pe, sp.simd, sp.addr_bits
        m.submodules.dp = dp
        # ---- memory clients and the arbiter -------------------------------------------
        writers = [RowWriter(pe, bits, sp.mem_bits, ab) for _, bits in sp.writers]
        for i, wr in enumerate(writers):
            m.submodules[f"wr{i}"] = wr
        # first, last, phase (2), and each lane's "beyond the chunk" flag: the lane mask is
        # formed from the chunk walker's lane count as the command enters the fetch unit,
        # not from the popped tag (its compares behind the pop were late, session 15)
        tag_bits = 4 + simd
        fetch = FetchUnit(simd, sp.in_bits, sp.mem_bits, ab, tag_bits, depth=FETCH_DEPTH,
                          dim_bits=DIM)
        m.submodules.fetch = fetch
        rfetch = None
        if sp.res_bits:
            rfetch = FetchUnit(pe, (sp.res_bits,), sp.mem_bits, ab, 1, depth=RES_DEPTH,
                               dim_bits=DIM)
            m.submodules.rfetch = rfetch
        loader = Loader(sp, param_shapes(sp, self.thr_bits))
        m.submodules.loader = loader
        clients = [wr.bus for wr in writers] + ([rfetch.bus] if rfetch else [])
        arb = BusArbiter(len(clients) + 2, ab, sp.mem_bits)
        m.submodules.arb = arb
        for i, c in enumerate(clients):
            wiring.connect(m, c, arb.ports[i])
        fetch_port = arb.ports[len(clients)]
        wiring.connect(m, loader.bus, arb.ports[len(clients) + 1])
        wiring.connect(m, arb.bus, wiring.flipped(self.bus))
        m.d.comb += self.overrun.eq(dp.overrun)
        m.d.comb += [loader.start.eq(self.start), loader.base.eq(self.base),
                     self.busy.eq(loader.busy), self.done.eq(loader.done),
                     self.layer.eq(loader.layer)]
        self._activation_buffer(m, loader, fetch, fetch_port)
        self._chunk_walker(m, loader, fetch)
        # ---- parameters, weights ---------------------------------------------------------
        pb = ParamBank(pe, param_shapes(sp, self.thr_bits))
        m.submodules.params = pb
        m.d.comb += [pb.w_en.eq(loader.param_en), pb.w_chan.eq(loader.param_chan),
                     pb.w_field.eq(loader.param_field), pb.w_data.eq(loader.param_data)]
        wbuf = WeightBuffer(pe, simd, sp.w_bits, sp.mem_bits, sp.wbuf_blocks)
        m.submodules.wbuf = wbuf
        m.d.comb += [wbuf.w_en.eq(loader.wt_en), wbuf.w_addr.eq(loader.wt_addr),
                     wbuf.w_data.eq(loader.wt_data), wbuf.w_half.eq(loader.wt_half)]
        # ---- computation: beats into the datapath, its results into the output queue ----
        outq = fifo.SyncFIFO(width=pe * (dp.fixed_bits + 2 * sp.w["code"]), depth=OUT_DEPTH)
        m.submodules.outq = outq
        self._beat_issuer(m, loader, fetch, rfetch, pb, wbuf, outq)
        self._epilogue_params(m, loader.desc, pb)
        if rfetch is not None:
            self._residual_reader(m, loader, rfetch)
        self._row_writers(m, loader, writers, outq)
        return m

    def _activation_buffer(self, m: Module, loader: Loader, fetch: FetchUnit,
                           fetch_port) -> None:
        """The layer input, served to ``fetch`` like a memory with latency 1 when the
        descriptor's ``abuf`` says the loader put it on chip; else ``fetch`` reads memory
        through ``fetch_port``. Also holds ``fetch``'s layer constants."""
        sp, d = self.spec, loader.desc
        # the descriptor's flag registered here, beside the bus select it drives (it crossed
        # the device from the loader into the fetch unit's bus handshake); it settles long
        # before go, and the loader changes it only between layers, with the fetch idle
        use_abuf = Signal()
        m.d.sync += use_abuf.eq(d.abuf)
        fb = fetch.bus
        if sp.abuf_words:
            abuf = memory.Memory(shape=sp.mem_bits, depth=sp.abuf_words, init=[])
            m.submodules.abuf = abuf
            awp, arp = abuf.write_port(), abuf.read_port()
            m.d.comb += [awp.en.eq(loader.abuf_en), awp.addr.eq(loader.abuf_addr),
                         awp.data.eq(loader.abuf_data), arp.addr.eq(fb.adr), arp.en.eq(1)]
            a_ack = Signal()
            m.d.sync += a_ack.eq(use_abuf & fb.cyc & fb.stb)
        else:
            a_ack = Const(0)
            arp = None
        with m.If(use_abuf):
            m.d.comb += [fb.stall.eq(0), fb.ack.eq(a_ack)]
            if arp is not None:
                m.d.comb += fb.dat_r.eq(arp.data)
        with m.Else():
            for name in ("cyc", "stb", "we", "adr", "dat_w", "sel"):
                m.d.comb += getattr(fetch_port, name).eq(getattr(fb, name))
            m.d.comb += [fb.stall.eq(fetch_port.stall), fb.ack.eq(fetch_port.ack),
                         fb.dat_r.eq(fetch_port.dat_r)]
        for name in ("cin", "k", "h", "w", "epw", "wpp"):
            src = {"epw": "in_epw", "wpp": "in_wpp"}.get(name, name)
            m.d.comb += getattr(fetch, name).eq(getattr(d, src))
        m.d.comb += [fetch.base.eq(Mux(use_abuf, 0, d.in_base)), fetch.sel.eq(d.in_sel)]

    def _chunk_walker(self, m: Module, loader: Loader, fetch: FetchUnit) -> None:
        """The :class:`ChunkWalker` (holding the layer's chunk table, written by the
        loader) that turns it into ``fetch``'s commands, restarted by ``layer_go``."""
        sp, d = self.spec, loader.desc
        cw = ChunkWalker(sp.simd, sp.chunk_depth, DIM, len(d.cin))
        m.submodules.chunk_walker = cw
        for name in ("pad", "stride", "cin", "chan_step", "chunks", "ow", "oh", "groups"):
            m.d.comb += getattr(cw, name).eq(getattr(d, name))
        m.d.comb += [cw.t_en.eq(loader.chunk_en), cw.t_addr.eq(loader.chunk_addr),
                     cw.t_data.eq(loader.chunk_data), cw.go.eq(loader.layer_go),
                     cw.cmd_ready.eq(fetch.cmd_ready), fetch.cmd_valid.eq(cw.cmd_valid),
                     fetch.iy0.eq(cw.iy0), fetch.ix0.eq(cw.ix0), fetch.ky0.eq(cw.ky0),
                     fetch.kx0.eq(cw.kx0), fetch.c0.eq(cw.c0), fetch.n.eq(cw.n),
                     fetch.tag.eq(Cat(cw.first, cw.last, cw.phase,
                                      *[cw.n <= j for j in range(sp.simd)]))]

    def _beat_issuer(self, m: Module, loader: Loader, fetch: FetchUnit,
                     rfetch: FetchUnit | None, pb: ParamBank, wbuf: WeightBuffer,
                     outq: fifo.SyncFIFO) -> None:
        """Pops ``fetch``'s chunks and issues each one's digit beats (operand stage + weight
        block -> datapath), or a pool layer's chunk into the :class:`PoolUnit`. A pixel's
        first chunk waits for output-queue room (and its residual row); a group's first
        pixel also for the epilogue to drain and the group's parameters (then the shadow is
        copied); a pixel's last chunk for the serial epilogue's spacing."""
        sp, dp, d = self.spec, self.dp, loader.desc
        pe, simd = sp.pe, sp.simd
        go = loader.layer_go
        xu_bits = max(sp.xu_bits, max(sp.in_bits))
        ops = OperandStage(simd, max(sp.in_bits), sp.a_bits, xu_bits)
        m.submodules.ops = ops
        pool = PoolUnit(pe, max(sp.in_bits), sp.w["acc"])
        m.submodules.pool = pool
        cur_v = Signal()
        cur_lanes = Signal.like(fetch.out_lanes)
        cur_pad = Signal(simd)
        cur_first, cur_last = Signal(), Signal()
        dg, eg = Signal(range(64)), Signal(range(64))
        blk = Signal(range(sp.wbuf_blocks + 1))
        r_half, grp_par = Signal(), Signal()
        pend_out = Signal(range(OUT_DEPTH + 2))
        pend_res = Signal(range(RES_DEPTH + 2))
        pix = Signal(2 * DIM)  # pixels started in the current group
        npix_m1 = area_m1(m, d.oh, d.ow, DIM, name="npix")  # the layer's last pixel
        # the layer's kind and the pool's sign mask, registered: the descriptor's registers sit
        # by the loader, and the compare in front of every pool lane's flags was a late
        # input on a routed 4 x 8 engine (session 16); the descriptor holds through a layer
        is_conv = reg(m, d.kind == 0, "is_conv")
        is_max = reg(m, d.kind == 1, "is_max")
        pool_mask = reg(m, d.flip_mask, "pool_mask")
        # The pop decision is kept to a few LUT levels for the clock (docs/ARCHITECTURE.md
        # "Timing"): every condition it reads is a register. Per-layer constants less one
        # are registered; "this beat ends the chunk", "the group's first pixel is next",
        # "the datapath is empty" and the output-queue / residual credits are flags
        # computed a cycle ahead (the credits conservatively: a pop or an arrival shows one
        # cycle late).
        end_chunk, last_beat = Signal(), Signal()
        xd_m1, wd_m1 = Signal.like(dg), Signal.like(eg)
        one_beat = Signal()
        m.d.sync += [xd_m1.eq(d.x_digits - 1), wd_m1.eq(d.w_digits - 1),
                     one_beat.eq((d.x_digits == 1) & (d.w_digits == 1))]
        m.d.comb += end_chunk.eq(cur_v & last_beat)
        shadow_full = loader.shadow_full
        # the fetch unit's head as it shows it (FetchUnit: the half ``rt ^ popped``), selected
        # here from the unit's registers: one net between the two, not a round trip
        # (popped -> the unit's select -> back). ``rt ^ popped`` is kept as a register of
        # its own: rt toggles on popped and popped follows the pop, so it toggles on the
        # pop (one LUT level less in front of the decision)
        popped = Signal()
        shown = Signal()
        f_valid = Mux(shown, fetch.head_valid[1], fetch.head_valid[0])
        f_tag = Mux(shown, fetch.head_tag[1], fetch.head_tag[0])
        head_first = f_tag[0]
        new_group = Signal(init=1)  # pix == 0
        # "a pixel may start here": credit & (~new_group | (pend_out == 0 & shadow_full)),
        # one register formed for both outcomes of this cycle's start (start_pix selects),
        # with the loader's shadow_full seen a cycle late (safe: a group's first pixel also
        # waits for the datapath to drain, pend_out == 0, long after the copy clears it)
        head_ok = Signal()
        can_pop = Signal()
        # a pixel's last chunk waits until the previous pixel's last chunk is at least
        # dp.groups cycles old: its vector then enters the serial epilogue no sooner (a
        # chunk's beats issue on consecutive cycles, so pops and last beats are equally spaced)
        gap = Signal(range(dp.groups + 1), init=dp.groups)
        gap_full = Signal(init=1)  # gap == dp.groups, registered with it
        spaced = ~f_tag[1] | gap_full
        # ~cur_v | end_chunk ("the issuer takes a chunk this cycle if one is there"), kept as
        # a register beside cur_v and last_beat: one input of the pop decision, not three
        ending = Signal(init=1)
        m.d.comb += can_pop.eq(f_valid & ending & spaced & (~head_first | head_ok))
        with m.If(can_pop & f_tag[1]):
            m.d.sync += [gap.eq(1), gap_full.eq(dp.groups == 1)]
        with m.Elif(~gap_full):
            m.d.sync += [gap.eq(gap + 1), gap_full.eq(gap == dp.groups - 1)]
        start_pix = can_pop & head_first
        # the pixel counter with registered "at the layer's last pixel" flags: the late
        # pixel start loads one flip-flop, which steps the counter and selects its flag
        # (npix_m1 settles before go, as for the output walker); the start had crossed the
        # device to the counter's 2 x 2 DIM enables (a routed critical path)
        pix_last = lagging_wrap_counter(m, pix, npix_m1, start_pix, go)
        # the shadow -> active parameter copy, one cycle after the group's first pixel
        # starts (the epilogue and accumulator read them several cycles later): the wide
        # copy enable comes from a register
        copy = Signal()
        m.d.sync += copy.eq(start_pix & new_group)
        # the pop reaches the fetch unit from a register (FetchUnit: its outputs already
        # show the next chunk), so the decision's loads are the issuer's own registers
        m.d.sync += [popped.eq(can_pop), shown.eq(shown ^ can_pop)]
        m.d.comb += [fetch.popped.eq(popped), pb.copy.eq(copy), loader.copied.eq(copy)]
        # the wide per-chunk registers load whenever the current chunk ends (unused unless
        # the head is popped), so the pop decision does not drive their enables
        # the layer's pad values are registered here: the descriptor's, by the loader, fanned
        # out to every lane's select (a late input on a routed 4 x 8 engine, session 16)
        pads = [reg(m, v, f"pad{c}") for c, v in enumerate((d.pad0, d.pad1, d.pad2, d.pad3))]
        cinm1 = Signal(2)  # pad values differ per channel only when cin <= 4
        m.d.sync += cinm1.eq(Mux(d.cin <= 4, d.cin - 1, 0))
        cur_pch = Signal(data.ArrayLayout(2, simd))  # each lane's pad channel
        cur_idle = Signal(simd)  # lanes beyond the chunk
        with m.If(ending):
            m.d.sync += [cur_lanes.eq(fetch.out_lanes), cur_pad.eq(fetch.out_pad)]
            for j in range(simd):
                # lane j of a chunk is channel (phase + j) mod cin
                with m.Switch(Cat(fetch.out_tag[2:4], cinm1)):
                    for ph in range(4):
                        for c in range(4):
                            with m.Case(ph | c << 2):
                                m.d.sync += cur_pch[j].eq((ph + j) % (c + 1))
            m.d.sync += cur_idle.eq(fetch.out_tag[4:])
        with m.If(can_pop):
            m.d.sync += [cur_v.eq(1), cur_first.eq(f_tag[0]),
                         cur_last.eq(f_tag[1]), dg.eq(0), eg.eq(0),
                         last_beat.eq(one_beat), ending.eq(one_beat)]
            with m.If(head_first):
                m.d.sync += blk.eq(0)
                m.d.sync += new_group.eq(pix_last)
                with m.If(new_group):
                    m.d.sync += [r_half.eq(grp_par), grp_par.eq(~grp_par)]
            with m.Else():  # the next chunk of the same pixel: the next weight blocks
                m.d.sync += blk.eq(blk + d.w_digits)
        with m.Elif(end_chunk):
            m.d.sync += [cur_v.eq(0), ending.eq(1)]
        with m.Elif(cur_v):
            nxt_last = Signal()
            with m.If(eg == wd_m1):
                m.d.sync += [eg.eq(0), dg.eq(dg + 1)]
                m.d.comb += nxt_last.eq((dg + 1 == xd_m1) & (wd_m1 == 0))
            with m.Else():
                m.d.sync += eg.eq(eg + 1)
                m.d.comb += nxt_last.eq((dg == xd_m1) & (eg + 1 == wd_m1))
            m.d.sync += [last_beat.eq(nxt_last), ending.eq(nxt_last)]
        with m.If(go):
            m.d.sync += [new_group.eq(1), cur_v.eq(0), grp_par.eq(0), ending.eq(1)]
        # pixels started and not yet out of the datapath / their residual not yet used
        res_pop = dp.epi_valid & (d.res_en)
        # start_pix comes late in the cycle (the pop decision): every sum and compare below
        # is formed from registers for both of its values, and start_pix only selects
        pend_less = Signal.like(pend_out)
        m.d.comb += pend_less.eq(pend_out - dp.out_valid)
        # pend_next == 0 without the adder in line: compares on the register (a start makes
        # it nonzero)
        pend_zero_idle = Signal()
        m.d.comb += pend_zero_idle.eq(((pend_out == 0) & ~dp.out_valid)
                                      | ((pend_out == 1) & dp.out_valid))
        m.d.sync += pend_out.eq(Mux(start_pix, pend_less + 1, pend_less))
        res_less = Signal.like(pend_res)
        m.d.comb += res_less.eq(pend_res - res_pop)
        with m.If(start_pix & d.res_en):
            m.d.sync += pend_res.eq(res_less + 1)
        with m.Else():
            m.d.sync += pend_res.eq(res_less)
        # room in the output queue after this cycle's start (pops show next cycle), and a
        # residual row for the next pixel (every start claims one; arrivals show next cycle)
        res_ok = [Const(1), Const(1)]  # without, with this cycle's start
        if rfetch is not None:
            # rfetch.level counts its rows as of its registered pop: less that pending pop
            res_ok = [~d.res_en | (rfetch.level > pend_res + (k + rfetch.popped))
                      for k in (0, 1)]
        held = Signal(range(2 * OUT_DEPTH + 2))
        m.d.comb += held.eq(pend_out + outq.level)
        credit_start, credit_idle = Signal(), Signal()  # the output-queue/residual credit
        m.d.comb += [credit_start.eq((held + 1 < OUT_DEPTH) & res_ok[1]),
                     credit_idle.eq((held < OUT_DEPTH) & res_ok[0])]
        # new_group's next value is go | (start ? pix_last : new_group)
        m.d.sync += head_ok.eq(Mux(
            start_pix, credit_start & ~(go | pix_last),
            credit_idle & (~(go | new_group) | (pend_zero_idle & shadow_full))))
        # pad values: lane j's channel's (rtl_gen/compile/descriptor.py); lanes beyond the
        # chunk are idle: xu = 0 (they must not count in xsum)
        for j in range(simd):
            with m.If(cur_idle[j]):
                m.d.comb += ops.pad_value[j].eq(0)
            with m.Else(), m.Switch(cur_pch[j]):
                for c in range(4):
                    with m.Case(c):
                        m.d.comb += ops.pad_value[j].eq(pads[c])
        conv_beat = cur_v & is_conv
        m.d.comb += [ops.valid.eq(conv_beat), ops.lanes.eq(cur_lanes),
                     ops.pad.eq(cur_pad | cur_idle),
                     ops.flip_mask.eq(d.flip_mask), ops.input_shift.eq(d.input_shift),
                     ops.digit.eq(dg)]
        # the weight block read, delayed to arrive with the operand digits
        r_block = Signal.like(wbuf.r_block)
        m.d.comb += r_block.eq(blk + eg)
        wr_req = delay(m, Cat(conv_beat, r_block, r_half), ops.latency - wbuf.latency, "wreq")
        m.d.comb += Cat(wbuf.r_en, wbuf.r_block, wbuf.r_half).eq(wr_req)
        # beat flags, with the operand digits and the weight block
        flags = Cat(cur_first & (dg == 0) & (eg == 0), cur_last & last_beat, eg == 0,
                    (dg * sp.a_bits + eg * sp.w_bits + d.w_scale_log2)[:6],
                    (dg * sp.a_bits)[:6])
        f_first, f_last, f_corr = Signal(), Signal(), Signal()
        f_dsh, f_xsh = Signal(6), Signal(6)
        m.d.comb += Cat(f_first, f_last, f_corr, f_dsh, f_xsh).eq(
            delay(m, flags, ops.latency, "beat"))
        m.d.comb += [dp.valid.eq(ops.out_valid), dp.x.eq(ops.x), dp.w.eq(wbuf.r_data),
                     dp.first.eq(f_first), dp.last.eq(f_last), dp.corr.eq(f_corr),
                     dp.dot_shift.eq(f_dsh), dp.x_shift.eq(f_xsh), dp.ow.eq(d.ow_const)]
        # pool layers: one chunk per cycle into the pool unit, its result into the epilogue
        m.d.comb += [pool.valid.eq(cur_v & ~is_conv), pool.first.eq(cur_first),
                     pool.last.eq(cur_last), pool.is_max.eq(is_max),
                     pool.mask.eq(pool_mask), pool.x.eq(Cat(*[cur_lanes[j] for j in range(pe)])),
                     pool.pad.eq(cur_pad[:pe]),
                     dp.ext_valid.eq(pool.out_valid), dp.ext_acc.eq(pool.y)]

    def _epilogue_params(self, m: Module, d, pb: ParamBank) -> None:
        """The epilogue's layer constants (descriptor ``d``) and the group's per-channel
        parameters (the active half of ``pb``)."""
        sp, dp, pe = self.spec, self.dp, self.spec.pe
        for name in ("en_requant", "en_add", "en_rprelu", "shift", "rq_lo", "rq_hi", "add_lo",
                     "add_hi", "rp_lo", "rp_hi", "a_left", "a_right", "b_left", "b_right",
                     "slope_frac"):
            m.d.comb += getattr(dp, name).eq(getattr(d, name))
        for name in ("init", "mult", "bias", "bias1", "slope", "bias2"):
            m.d.comb += getattr(dp, name).eq(getattr(pb, name))
        for t in range(2):
            for lane in range(pe):
                for lv in range(sp.levels):
                    m.d.comb += getattr(dp, f"pos{t}")[lane][lv].eq(
                        getattr(pb, f"pos{t}_{lv}")[lane])
                    if sp.w["two_sided"]:
                        m.d.comb += getattr(dp, f"neg{t}")[lane][lv].eq(
                            getattr(pb, f"neg{t}_{lv}")[lane])
                if sp.w["two_sided"]:
                    m.d.comb += getattr(dp, f"breakpoint{t}")[lane].eq(
                        getattr(pb, f"bp{t}")[lane])

    def _residual_reader(self, m: Module, loader: Loader, rfetch: FetchUnit) -> None:
        """The :class:`ResidualWalker`'s commands into ``rfetch`` (the residual tensor's
        layout), its rows (sign-corrected by ``res_mask``) into the epilogue, one per
        vector that enters it."""
        sp, dp, d, pe = self.spec, self.dp, loader.desc, self.spec.pe
        rw = ResidualWalker(pe, DIM, len(d.o))
        m.submodules.residual_walker = rw
        m.d.comb += [rw.go.eq(loader.layer_go), rw.res_en.eq(d.res_en), rw.o.eq(d.o),
                     rw.oh.eq(d.oh), rw.ow.eq(d.ow), rw.groups.eq(d.groups),
                     rw.cmd_ready.eq(rfetch.cmd_ready)]
        m.d.comb += [rfetch.cin.eq(d.o), rfetch.k.eq(1), rfetch.h.eq(d.oh),
                     rfetch.w.eq(d.ow), rfetch.epw.eq(d.res_epw), rfetch.wpp.eq(d.res_wpp),
                     rfetch.base.eq(d.res_base), rfetch.sel.eq(0),
                     rfetch.cmd_valid.eq(rw.cmd_valid), rfetch.iy0.eq(rw.iy0),
                     rfetch.ix0.eq(rw.ix0), rfetch.ky0.eq(0), rfetch.kx0.eq(0),
                     rfetch.c0.eq(rw.c0), rfetch.n.eq(rw.n), rfetch.tag.eq(0)]
        rmask = d.res_mask[:sp.res_bits]
        for lane in range(pe):
            v = rfetch.out_lanes[lane]
            m.d.comb += dp.residual[lane].eq((v ^ rmask) - rmask)
        m.d.sync += rfetch.popped.eq(dp.epi_valid & d.res_en & rfetch.valid)

    def _row_writers(self, m: Module, loader: Loader, writers: list[RowWriter],
                     outq: fifo.SyncFIFO) -> None:
        """Datapath results -> output queue -> one row per pixel into every enabled
        writer, at the :class:`OutputWalker`'s addresses; the layer is done when the last
        row is taken and every writer is idle."""
        sp, dp, d, pe = self.spec, self.dp, loader.desc, self.spec.pe
        go = loader.layer_go
        fbits, cbits = dp.fixed_bits, sp.w["code"]
        m.d.comb += [outq.w_en.eq(dp.out_valid),
                     outq.w_data.eq(Cat(dp.fixed.as_value(), dp.code0.as_value(),
                                        dp.code1.as_value()))]
        qd = outq.r_data
        srcs = {"fixed": (0, fbits), "code0": (pe * fbits, cbits),
                "code1": (pe * (fbits + cbits), cbits)}
        ow = OutputWalker(pe, [wr.epw for wr in writers], sp.addr_bits, DIM, len(d.oh))
        m.submodules.output_walker = ow
        wr_en = [getattr(d, f"wr{i}_en") for i in range(len(writers))]
        # rows go out by credit, not by the writers' ready: each writer's rows held in its
        # input slice are counted here (its registered ``took`` a cycle late, so the count
        # is never low), and "every enabled writer has room" is a register formed for both
        # outcomes of this cycle's pop: the pop reads two registers, the writers' flags
        # across the device reach only that register
        all_ready = Signal(init=1)
        pop_out = Signal()
        held_rows = [Signal(range(CAPACITY + 1), name=f"wr{i}_held")
                     for i in range(len(writers))]
        room_pop, room_idle = [], []
        for wr, en, n in zip(writers, wr_en, held_rows, strict=True):
            m.d.sync += n.eq(n + (pop_out & en) - wr.took)
            # room after this cycle: n - took (+ 1 if this pop sends it a row) < CAPACITY
            room_pop.append(~en | (n - wr.took < CAPACITY - 1))
            room_idle.append(~en | (n - wr.took < CAPACITY))
        m.d.sync += all_ready.eq(Mux(pop_out, Cat(*room_pop).all(), Cat(*room_idle).all()))
        # the walk runs ahead of the rows: each row's writer inputs (address, slot, words)
        # wait in a small queue with registered outputs, so a row's pop moves only the
        # queue's read side, and the walker steps on its own registers (busy, room)
        fields = []
        for i, wr in enumerate(writers):
            fields += [(f"addr{i}", sp.addr_bits), (f"slot{i}", len(wr.slot0)),
                       (f"words{i}", len(wr.words))]
        rows = data.StructLayout(dict(fields))
        aq = fifo.SyncFIFOBuffered(width=rows.size, depth=4)
        m.submodules.addrq = aq
        a_in, a_out = data.View(rows, aq.w_data), data.View(rows, aq.r_data)
        step = Signal()
        m.d.comb += [step.eq(ow.busy & aq.w_rdy), aq.w_en.eq(step),
                     pop_out.eq(outq.r_rdy & all_ready & aq.r_rdy), outq.r_en.eq(pop_out),
                     aq.r_en.eq(pop_out),
                     ow.go.eq(go), ow.pop.eq(step), ow.oh.eq(d.oh), ow.ow.eq(d.ow),
                     ow.groups.eq(d.groups)]
        for i, (wr, (src, bits)) in enumerate(zip(writers, sp.writers, strict=True)):
            off, eb = srcs[src]
            for name in ("wpp", "gwords", "epw", "base"):
                m.d.comb += getattr(ow, f"wr{i}_{name}").eq(getattr(d, f"wr{i}_{name}"))
            word_off = getattr(ow, f"wr{i}_word_off")
            rowwords = getattr(d, f"wr{i}_rowwords")
            # the row's words: what is left of the tensor's row, at most the writer's W;
            # "left < W" is "word_off > rowwords - W" (a registered layer constant), so the
            # compare and the subtraction are two carry chains side by side, not in series
            left, lim = Signal(signed(sp.addr_bits + 1)), Signal(signed(sp.addr_bits + 1))
            m.d.comb += left.eq(rowwords - word_off)
            m.d.sync += lim.eq(rowwords - wr.row_words)
            m.d.comb += [a_in[f"addr{i}"].eq(getattr(ow, f"wr{i}_addr")),
                         a_in[f"slot{i}"].eq(getattr(ow, f"wr{i}_slot")),
                         a_in[f"words{i}"].eq(Mux(word_off > lim, left, wr.row_words))]
            m.d.comb += [wr.valid.eq(pop_out & wr_en[i]),
                         wr.addr.eq(a_out[f"addr{i}"]), wr.slot0.eq(a_out[f"slot{i}"]),
                         wr.words.eq(a_out[f"words{i}"])]
            for lane in range(pe):
                v = qd[off + lane * eb: off + (lane + 1) * eb]
                # fixed values sign-extend (or truncate) to the tensor's stored width
                m.d.comb += wr.row[lane].eq(v.as_signed() if src == "fixed" else v)
        # registered: the writers sit beside the memory port, the loader's layer counter
        # elsewhere. Safe a cycle late: the loader waits for it at least two cycles after
        # go, by when the output walker is busy; the walk's last step shows in the queue's
        # level the cycle its busy drops, and a row's pop in its writer's idle
        idle = Cat(*[wr.idle for wr in writers]).all()
        done = Signal()
        m.d.sync += done.eq(~ow.busy & (aq.level == 0) & idle & ~go)
        m.d.comb += loader.layer_done.eq(done)


__all__ = ["Engine", "desc_shape"]
