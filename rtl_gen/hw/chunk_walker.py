"""Chunk walker: the engine's activation fetch commands of one layer.

After ``go`` it steps through every (output-channel group, output row, output column,
chunk-table entry), innermost last, and stops after the last group. Each entry of the
layer's chunk table (``ky0 | kx0 << 8 | c0 << 16 | n << 32 | phase << 48``, rtl_gen/compile/
descriptor.py; written through ``t_*`` by the loader, held here) becomes a command for the
window at ``iy0 = oy * stride - pad``, ``ix0 = ox * stride - pad``, with the entry's channel
offset by the group's first channel (``og * chan_step``: pools walk the channels group by
group, convolutions read every channel each group). A pool's last channel group may hold
fewer than a chunk's channels: ``n`` is then clipped to ``cin - c0``. ``first``/``last``
flag a pixel's first and last chunk, ``phase`` is the entry's pad phase; the engine packs
them into the fetch tag.

Pipelined for the clock (docs/ARCHITECTURE.md "Timing"): the counters step and read the
table (a registered read), the next stage registers the entry, the next adds the channel
offset, the next clips ``n``,
and the command waits in a small FIFO whose outputs are ``cmd_*``; the counters step only
while the FIFO has a free credit, so a ready consumer still gets one command per cycle.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, ResetInserter, Signal, signed
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw import fifo
from rtl_gen.hw.common import WRAP_SETTLE, check_ints, wrap_counter

QUEUE = 5  # commands between the counters and cmd_*: covers the 4-cycle credit loop


class ChunkWalker(wiring.Component):
    """``go`` restarts the walk (and drops queued commands); commands out
    (``cmd_valid``/``cmd_ready``) for ``simd`` lanes from a ``chunk_depth``-entry table;
    ``desc_bits``-wide descriptor fields."""

    settle = 1 + WRAP_SETTLE  # cycles the descriptor fields must be stable before ``go``

    def __init__(self, simd: int, chunk_depth: int, dim_bits: int = 12,
                 desc_bits: int = 32) -> None:
        check_ints("ChunkWalker", simd=(simd, 1, 1024), chunk_depth=(chunk_depth, 1, 1 << 16),
                   dim_bits=(dim_bits, 4, 16), desc_bits=(desc_bits, dim_bits, 64))
        self.simd, self.chunk_depth, self.dim_bits = simd, chunk_depth, dim_bits
        dim, sdim = dim_bits, signed(dim_bits + 1)
        super().__init__({
            "go": In(1),
            # descriptor fields
            "pad": In(desc_bits), "stride": In(desc_bits), "cin": In(desc_bits),
            "chan_step": In(desc_bits), "chunks": In(desc_bits), "ow": In(desc_bits),
            "oh": In(desc_bits), "groups": In(desc_bits),
            # chunk table writes (from the loader)
            "t_en": In(1), "t_addr": In(range(chunk_depth)), "t_data": In(64),
            # fetch command
            "cmd_valid": Out(1), "cmd_ready": In(1), "iy0": Out(sdim), "ix0": Out(sdim),
            "ky0": Out(8), "kx0": Out(8), "c0": Out(dim + 1), "n": Out(range(simd + 1)),
            "first": Out(1), "last": Out(1), "phase": Out(2),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        dim = self.dim_bits
        sdim = signed(dim + 1)
        table = memory.Memory(shape=64, depth=self.chunk_depth, init=[])
        m.submodules.table = table
        wp, rp = table.write_port(), table.read_port()
        m.d.comb += [wp.en.eq(self.t_en), wp.addr.eq(self.t_addr), wp.data.eq(self.t_data)]
        # ---- S0: the counters, one table read per step ----------------------------------
        running = Signal()
        kc = Signal(range(self.chunk_depth + 1))  # the entry
        og, oy, ox = Signal(dim), Signal(dim), Signal(dim)
        iy0, ix0 = Signal(sdim), Signal(sdim)
        cbase = Signal(dim)  # the group's first channel
        cleft = Signal(signed(dim + 2))  # cin - cbase
        cred = Signal(range(QUEUE + 1))  # steps taken, commands not yet popped
        step, pop = Signal(), Signal()
        # the loop bounds less one, registered (descriptor fields, set well before go), and
        # per counter a registered "at its last value" flag, so the step's enables are a
        # couple of LUT levels deep
        names = ("kc", "ox", "oy", "og")
        bound = {n: Signal(dim + 4, name=f"{n}_m1") for n in names}
        m.d.sync += [bound["kc"].eq(self.chunks - 1), bound["ox"].eq(self.ow - 1),
                     bound["oy"].eq(self.oh - 1), bound["og"].eq(self.groups - 1)]
        cnt = {"kc": kc, "ox": ox, "oy": oy, "og": og}
        # counter n advances when every inner counter is at its last value
        adv, at_end = {}, {}
        a = step
        for n in names:
            adv[n] = a
            at_end[n] = wrap_counter(m, cnt[n], bound[n], a, self.go)
            a = a & at_end[n]
        # ``cred < QUEUE`` as a flag kept in step with the credit count
        cred_ok = Signal(init=1)
        m.d.comb += [step.eq(running & cred_ok), rp.addr.eq(kc), rp.en.eq(step),
                     pop.eq(self.cmd_valid & self.cmd_ready)]
        m.d.sync += [cred.eq(cred + step - pop),
                     cred_ok.eq((cred_ok | pop) & ~((cred == QUEUE - 1) & step & ~pop))]
        s1 = Signal(_STAGE(dim))
        m.d.sync += [s1.v.eq(step), s1.iy0.eq(iy0), s1.ix0.eq(ix0), s1.cbase.eq(cbase),
                     s1.cleft.eq(cleft), s1.first.eq(kc == 0), s1.last.eq(at_end["kc"])]
        with m.If(self.go):
            m.d.sync += [running.eq(1), iy0.eq(-self.pad), ix0.eq(-self.pad), cbase.eq(0),
                         cleft.eq(self.cin), cred.eq(0), cred_ok.eq(1), s1.v.eq(0)]
        with m.Else():
            with m.If(adv["ox"]):
                m.d.sync += ix0.eq(Mux(at_end["ox"], -self.pad, ix0 + self.stride))
            with m.If(adv["oy"]):
                m.d.sync += iy0.eq(Mux(at_end["oy"], -self.pad, iy0 + self.stride))
            with m.If(adv["og"]):
                m.d.sync += [cbase.eq(cbase + self.chan_step), cleft.eq(cleft - self.chan_step)]
                with m.If(at_end["og"]):
                    m.d.sync += running.eq(0)
        # ---- S1: the entry, registered (a block RAM's output is late in the cycle: its
        # read into the adders below was the routed critical path's tail, session 13) --
        ent = Signal(64, name="ent", reset_less=True)
        s1b = Signal(_STAGE(dim))
        m.d.sync += [ent.eq(rp.data), s1b.eq(s1), s1b.v.eq(s1.v & ~self.go)]
        # ---- S1b: the channel offset and the channels left -----------------------------
        s2 = Signal(_STAGE(dim))
        c0, room, n_ent = Signal(dim + 1), Signal(signed(dim + 2)), Signal(16)
        m.d.sync += [s2.eq(s1b), s2.v.eq(s1b.v & ~self.go), c0.eq(ent[16:32] + s1b.cbase),
                     room.eq(s1b.cleft - ent[16:32]), n_ent.eq(ent[32:48])]
        ky0, kx0, phase = Signal(8), Signal(8), Signal(2)
        m.d.sync += [ky0.eq(ent[0:8]), kx0.eq(ent[8:16]), phase.eq(ent[48:50])]
        # ---- S2: n clipped to the channels left (pools), into the FIFO -------------------
        out = data.StructLayout({"iy0": sdim, "ix0": sdim, "ky0": 8, "kx0": 8, "c0": dim + 1,
                                 "n": range(self.simd + 1), "first": 1, "last": 1,
                                 "phase": 2})
        q = ResetInserter(self.go)(fifo.SyncFIFO(width=out.size, depth=QUEUE))
        m.submodules.q = q
        w = data.View(out, q.w_data)
        m.d.comb += [q.w_en.eq(s2.v), w.iy0.eq(s2.iy0), w.ix0.eq(s2.ix0), w.ky0.eq(ky0),
                     w.kx0.eq(kx0), w.c0.eq(c0), w.first.eq(s2.first), w.last.eq(s2.last),
                     w.phase.eq(phase),
                     w.n.eq(Mux((self.chan_step != 0) & (room < n_ent), room, n_ent))]
        r = data.View(out, q.r_data)
        m.d.comb += [self.cmd_valid.eq(q.r_rdy), q.r_en.eq(self.cmd_ready)]
        m.d.comb += [getattr(self, f).eq(getattr(r, f)) for f in out.members]
        return m


def _STAGE(dim: int) -> data.StructLayout:
    """A step between the walker's pipeline stages: window origin, the group's first
    channel and the channels left from it, first/last chunk of the pixel, valid."""
    return data.StructLayout({"iy0": signed(dim + 1), "ix0": signed(dim + 1), "cbase": dim,
                              "cleft": signed(dim + 2), "first": 1, "last": 1, "v": 1})
