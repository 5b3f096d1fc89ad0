"""Segment generator: the address half of the fetch contract (rtl_gen/compile/fetch.py).

For one chunk command (the window origin ``iy0 = oy*s - p``, ``ix0 = ox*s - p``, the first
term's window position ``ky0, kx0`` and channel ``c0``, and ``n`` lanes) it emits one segment
per cycle: lanes at a window position outside the image as one pad segment, inside as runs
of at most ``E - e`` elements from one word (``E`` elements per word, a power of two), in
lane order, the chunk's last segment flagged ``last``. Positions advance ``(ky, kx)``
row-major, channels restart at 0, so no division is needed.

Pipelined for the clock (docs/ARCHITECTURE.md "Timing"): a command is registered, then its
first position, word and slot are worked out (``c0 >> log2 E``, ``c0 & (E - 1)``) and its
word address ``base + y*W*wpp + x*wpp + word`` computed by a registered multiply-add
(:func:`~rtl_gen.hw.pipelined.mul`); the result waits in a small queue. The segment stage
keeps the current word address, the pixel's address, the position and the "inside the
image" flags in registers and updates them by additions only (the next pixel is ``+wpp``,
the next window row ``+(W - k + 1) * wpp``); each segment leaves through a
:class:`SkidBuffer`. Commands are taken while the queue has a free credit, so chunks of one
segment still stream at one per cycle. Layer constants (``cin``, ``k``, ``H``, ``W``,
``E``, words per pixel, ``base``) are held by the caller from at least one cycle before
the first command.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw import fifo
from rtl_gen.hw.common import check_ints
from rtl_gen.hw.pipelined import delay_line, mul, mul_latency, reg
from rtl_gen.hw.skid_buffer import SkidBuffer


class SegmentGenerator(wiring.Component):
    """Chunk commands in (``cmd_valid``/``cmd_ready``), segments out (``valid``/``ready``)."""

    def __init__(self, simd: int, addr_bits: int = 24, dim_bits: int = 12) -> None:
        check_ints("SegmentGenerator", simd=(simd, 1, 1024), addr_bits=(addr_bits, 8, 40),
                   dim_bits=(dim_bits, 4, 16))
        self.simd = simd
        lane = range(simd + 1)
        dim, sdim = dim_bits, signed(dim_bits + 1)
        super().__init__({
            # layer constants
            "cin": In(dim), "k": In(dim), "h": In(dim), "w": In(dim), "epw": In(8),
            "wpp": In(dim), "base": In(addr_bits),
            # chunk command
            "cmd_valid": In(1), "cmd_ready": Out(1), "iy0": In(sdim), "ix0": In(sdim),
            "ky0": In(dim), "kx0": In(dim), "c0": In(dim), "n": In(lane),
            # segment out
            "valid": Out(1), "ready": In(1), "last": Out(1), "is_pad": Out(1),
            "addr": Out(addr_bits), "lane0": Out(lane), "count": Out(lane), "e0": Out(8),
        })
        self.dim_bits, self.addr_bits = dim_bits, addr_bits
        self.prep_latency = 3 + mul_latency(dim_bits + 2, addr_bits + 1, 2)
        # commands in flight or queued: one per cycle of the loop from take to load
        self.queue_depth = self.prep_latency + 3

    def elaborate(self, platform) -> Module:
        m = Module()
        d, ab = self.dim_bits, self.addr_bits
        lane_t, pos_t = range(self.simd + 1), signed(d + 2)
        # ---- layer constants, registered (the caller holds them ahead of the commands) ---
        epw_m1 = reg(m, self.epw - 1, "epw_m1", 8)
        lg = reg(m, Cat(*[Cat(*[self.epw[i] for i in range(8) if i >> b & 1]).any()
                          for b in range(3)]), "lg", 3)  # log2 E (E is one-hot)
        # the products from registered operands (the hard multiplier is 3.9 ns unregistered:
        # with the descriptor's k, a subtraction and the routes in front of it, a routed
        # critical path, session 12); the layer constants settle long before the commands
        km1 = reg(m, self.k - 1, "km1", d)
        w_r, wpp_r = reg(m, self.w, "w_r", d), reg(m, self.wpp, "wpp_r", d)
        rowwords = reg(m, w_r * wpp_r, "rowwords", ab)
        km1wpp = reg(m, km1 * wpp_r, "km1wpp", ab)
        rowstep = reg(m, rowwords - km1wpp, "rowstep", ab)  # to the next window row
        km2 = reg(m, self.k - 2, "km2", d)  # all ones (never a column) when k = 1
        km3 = reg(m, self.k - 3, "km3", d)  # never a column when k <= 2
        k_one = reg(m, self.k == 1, "k_one", 1)
        k_two = reg(m, self.k == 2, "k_two", 1)
        wm2, hm2 = reg(m, self.w - 2, "wm2", pos_t), reg(m, self.h - 2, "hm2", pos_t)
        # ---- credits: commands taken and not yet loaded by the segment stage -------------
        qd = self.queue_depth
        cred = Signal(range(qd + 1))
        take, load = Signal(), Signal()
        m.d.comb += [self.cmd_ready.eq(cred < qd), take.eq(self.cmd_valid & self.cmd_ready)]
        m.d.sync += cred.eq(cred + take - load)
        # ---- prep: P0 the command; P1 the first position, word and slot -----------------
        cmd = {k: reg(m, getattr(self, k), f"p0_{k}") for k in ("iy0", "ix0", "ky0", "kx0",
                                                                  "c0", "n")}
        p0v = reg(m, take, "p0_v")
        p1 = Signal(_PREP(d, lane_t, pos_t))
        m.d.sync += [p1.y.eq(cmd["iy0"] + cmd["ky0"]), p1.x.eq(cmd["ix0"] + cmd["kx0"]),
                     p1.ix0.eq(cmd["ix0"]), p1.kx.eq(cmd["kx0"]), p1.n.eq(cmd["n"]),
                     p1.e.eq(cmd["c0"] & epw_m1), p1.widx.eq(cmd["c0"] >> lg),
                     p1.crem.eq(self.cin - cmd["c0"]), p1.v.eq(p0v)]
        # the pixel's address base + y*W*wpp + x*wpp (registered multiply-add), and the
        # prep fields (with the inside-the-image flags) delayed alongside; x*wpp from two
        # registers, so its multiplier takes them and its product's register inside
        # (rtl_gen/synth/dsp_regs.py; with the port ``wpp`` it was the one multiplier of the
        # 4 x 8 engine left bare, a late input at grade 8, session 16)
        paddr0, lat = mul(m, p1.y, Cat(rowwords, 0).as_signed(), name="pix",
                          extra=[p1.x * wpp_r, self.base], width=ab)
        p2 = Signal.like(p1)
        m.d.sync += [p2.eq(p1), p2.erem.eq(self.epw - p1.e),
                     p2.iny.eq(_inside(p1.y, self.h)), p2.inx.eq(_inside(p1.x, self.w)),
                     p2.inx_row.eq(_inside(p1.ix0, self.w)),
                     p2.iny_nx.eq(_inside(p1.y + 1, self.h)),
                     p2.inx_nx.eq(_inside(p1.x + 1, self.w)),
                     p2.inx_row_nx.eq(_inside(p1.ix0 + 1, self.w))]
        late = delay_line(m, p2, lat - 1, "p2")
        ent = Signal(_ENTRY(d, lane_t, pos_t, ab))
        m.d.sync += [ent.waddr.eq(paddr0[:ab] + late.widx), ent.paddr.eq(paddr0[:ab]),
                     ent.col_last.eq(late.kx == km1), ent.col_next_last.eq(late.kx == km2)]
        m.d.sync += [getattr(ent, f).eq(getattr(late, f)) for f in _CARRIED]
        # ---- the queue between the prep pipeline and the segment stage -------------------
        # buffered: the head comes from a register, not a RAM read, into the stage below
        m.submodules.q = q = fifo.SyncFIFOBuffered(width=len(ent.as_value()) - 1, depth=qd)
        m.d.comb += [q.w_en.eq(ent.v), q.w_data.eq(ent.as_value()[:-1])]
        hd = data.View(_ENTRY(d, lane_t, pos_t, ab), Cat(q.r_data, 0))
        # ---- the segment stage -----------------------------------------------------------
        st = Signal(_ENTRY(d, lane_t, pos_t, ab))  # v: busy, n: lanes left
        lane, erem = Signal(lane_t), st.erem
        ins = st.inx & st.iny
        # the decisions are registers set in step with the state (each state update below
        # also sets them from the values it writes), not carry chains on it: "last" gates
        # the queue's read, whose enable reaches the head register and the state
        last, pos_done = Signal(), Signal()
        # the state after this segment, worked out from registers only (the branch, a new
        # position or the next word of the pixel, is the registered ``pos_done``), so the
        # late handshake (``adv``) only selects it: no carry chain behind the handshake
        used = Signal.like(st.crem)  # lanes this segment takes
        nx_n, nx_crem, nx_lane = Signal.like(st.n), Signal.like(st.crem), Signal(lane_t)
        nx_waddr = Signal(ab)
        erem_new = Signal.like(erem)
        m.d.comb += [used.eq(Mux(pos_done, st.crem, erem)), nx_n.eq(st.n - used),
                     nx_lane.eq(lane + used), erem_new.eq(self.epw),
                     nx_crem.eq(Mux(pos_done, self.cin, st.crem - erem))]

        def compares(n, crem, erem_v, ins_v) -> list:
            return [last.eq((n <= crem) & ((n <= erem_v) | ~ins_v)),
                    pos_done.eq((crem <= n) & ((crem <= erem_v) | ~ins_v))]
        fit = Signal(lane_t)
        m.d.comb += fit.eq(Mux(last, st.n, Mux(pos_done, st.crem, erem)))
        # late_ready: the stream reader's ready (the memory port's stall through the
        # arbiter) moves only the buffer's pointers, not its data enables
        m.submodules.out = out = SkidBuffer(ab + 2 * len(self.lane0) + 10, late_ready=True)
        outs = [self.addr, self.is_pad, self.lane0, self.count, self.e0, self.last]
        m.d.comb += [out.in_valid.eq(st.v),
                     out.in_data.eq(Cat(st.waddr, ~ins, lane, fit, st.e, last)),
                     out.out_ready.eq(self.ready), self.valid.eq(out.out_valid),
                     Cat(*outs).eq(out.out_data)]
        adv = st.v & out.in_ready
        m.d.comb += [load.eq(q.r_rdy & (~st.v | (adv & last))), q.r_en.eq(load)]
        # "the position is the window row's last column" and the pixel address step it
        # selects are registers set with the column, so the next position's address is one
        # addition of registers; "the next column is the last" (``wrap_nx``) is one too, so
        # no compare of the column with ``k`` sits in front of the step's select (kx ==
        # k - 1 into ``inc`` was a routed critical path, session 15): the queue entry brings
        # both flags for its first column, and a column step compares ``kx`` with ``k - 3``
        # for the flag after next
        wrap, wrap_nx, inc = Signal(name="wrap"), Signal(name="wrap_nx"), Signal(ab, name="inc")

        def column(last_col, next_last) -> list:
            return [wrap.eq(last_col), wrap_nx.eq(next_last),
                    inc.eq(Mux(last_col, rowstep, self.wpp))]
        step = Signal(ab)
        m.d.comb += [step.eq(st.paddr + inc), nx_waddr.eq(Mux(pos_done, step, st.waddr + 1))]
        # "the next row / column is inside the image" are registers too (``*_nx``), each
        # stepped with its position from a compare of the position register with H - 2 or
        # W - 2 (the flag after next): the compares behind ``nx_ins`` and into the
        # ``last`` / ``pos_done`` decisions were a routed critical path (session 16)
        nx_ins = Signal()
        m.d.comb += nx_ins.eq(Mux(pos_done, Mux(wrap, st.inx_row & st.iny_nx,
                                                st.inx_nx & st.iny), ins))
        with m.If(load):
            m.d.sync += [st.eq(hd), st.v.eq(hd.n != 0), lane.eq(0),
                         *compares(hd.n, hd.crem, hd.erem, hd.inx & hd.iny),
                         *column(hd.col_last, hd.col_next_last)]
        with m.Elif(adv & last):
            m.d.sync += st.v.eq(0)
        with m.Elif(adv):  # the next word of the pixel, or (pos_done) the next position
            m.d.sync += [lane.eq(nx_lane), st.n.eq(nx_n), st.crem.eq(nx_crem), st.e.eq(0),
                         erem.eq(erem_new), st.waddr.eq(nx_waddr),
                         *compares(nx_n, nx_crem, erem_new, nx_ins)]
            with m.If(pos_done):  # the next window position, channel 0
                m.d.sync += st.paddr.eq(step)
                with m.If(wrap):
                    m.d.sync += [st.kx.eq(0), st.x.eq(st.ix0), st.y.eq(st.y + 1),
                                 st.inx.eq(st.inx_row), st.inx_nx.eq(st.inx_row_nx),
                                 st.iny.eq(st.iny_nx),
                                 st.iny_nx.eq((st.y >= -2) & (st.y < hm2)),
                                 *column(k_one, k_two)]
                with m.Else():
                    m.d.sync += [st.kx.eq(st.kx + 1), st.x.eq(st.x + 1), st.inx.eq(st.inx_nx),
                                 st.inx_nx.eq((st.x >= -2) & (st.x < wm2)),
                                 *column(wrap_nx, st.kx == km3)]
        return m


_CARRIED = ("y", "x", "ix0", "kx", "crem", "e", "erem", "n", "iny", "inx", "inx_row", "iny_nx",
            "inx_nx", "inx_row_nx", "v")


def _PREP(d: int, lane_t: range, pos_t) -> data.StructLayout:
    """A command after the first prep stage: its first position ``(y, x)``, the window
    row's first column ``ix0``, column ``kx``, channels left at the position ``crem``,
    slot ``e`` (``erem = E - e`` slots left) and word ``widx`` in the pixel, lanes ``n``,
    inside flags, valid."""
    return data.StructLayout({"y": pos_t, "x": pos_t, "ix0": pos_t, "kx": d, "crem": d,
                              "e": 8, "erem": range(257), "widx": d, "n": lane_t, "iny": 1,
                              "inx": 1,
                              "inx_row": 1, "iny_nx": 1, "inx_nx": 1, "inx_row_nx": 1,
                              "v": 1})


def _ENTRY(d: int, lane_t: range, pos_t, ab: int) -> data.StructLayout:
    """A queued command (and the segment stage's state): the word and pixel addresses,
    whether its first column is the window row's last (``col_last``) or the one before it
    (``col_next_last``), and the prep fields but the word index; ``v`` last (not stored in
    the queue)."""
    f = {"waddr": ab, "paddr": ab, "col_last": 1, "col_next_last": 1}
    f.update({k: _PREP(d, lane_t, pos_t).members[k] for k in _CARRIED})
    return data.StructLayout(f)


def _inside(v, lim):
    return (v >= 0) & (v < lim)
