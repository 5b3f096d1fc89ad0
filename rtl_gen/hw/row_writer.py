"""Row writer: one output row of a layer (the ``lanes`` results of one output-channel group
at one pixel) into a tensor in external memory, in rtl_gen/compile/image.py's layout.

A word holds ``E = mem_bits // bits`` elements, element ``j`` at bit ``(j % E) * bits``, so
two row shapes occur: ``lanes % E == 0`` fills ``W = lanes // E`` whole words (``sel`` all
ones, the bits above ``E * bits`` zero), and ``E % lanes == 0`` fills slots ``slot0 ..
slot0 + lanes - 1`` of one word (``sel`` exactly those bytes, so the rest of the word keeps
what other groups wrote). The row is registered as its words on accept and the words leave
one per cycle on the pipelined Wishbone port (consecutive addresses from ``addr``, never
waiting for acks); the next row is accepted on the cycle the last word is taken, so rows
stream at one word per cycle. Rows enter through a :class:`SkidBuffer`, so ``ready`` is a
register and the bus's ``stall`` does not reach the row's producer in the same cycle.
``words`` clips a tensor's last group (0: accept, write
nothing; values above ``W`` count as ``W``). Lanes beyond the channel count that fall in a
written word are written as given (zero for an image equal to ``pack``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.compile.image import per_word
from rtl_gen.hw.common import check_int, check_ints
from rtl_gen.hw.mem_port import MemPortSignature
from rtl_gen.hw.skid_buffer import SkidBuffer

MAX_OUTSTANDING = 255  # unacknowledged writes; issue pauses at this many


class RowWriter(wiring.Component):
    """Rows in (``valid``/``ready``), word writes out on ``bus``; ``idle`` when nothing is
    left to issue and every write has been acknowledged."""

    def __init__(self, lanes: int, bits: int, mem_bits: int, addr_bits: int) -> None:
        check_ints("RowWriter", lanes=(lanes, 1, 1024), mem_bits=(mem_bits, 8, 512),
                   addr_bits=(addr_bits, 8, 48))
        check_int("RowWriter", "bits", bits, 1, mem_bits)
        if mem_bits % 8:
            raise ValueError(f"RowWriter mem_bits must be a multiple of 8, got {mem_bits}")
        epw = per_word(bits, mem_bits)
        whole = lanes % epw == 0
        if not whole and (epw % lanes or lanes * bits % 8):
            raise ValueError(
                f"RowWriter lanes must be a multiple or a divisor of mem_bits // bits = {epw} "
                f"(a divisor only with lanes * bits a multiple of 8), got lanes={lanes}, "
                f"bits={bits}, mem_bits={mem_bits}")
        self.lanes, self.bits, self.mem_bits, self.addr_bits = lanes, bits, mem_bits, addr_bits
        self.epw, self.whole = epw, whole
        self.row_words = lanes // epw if whole else 1
        super().__init__({
            "valid": In(1), "ready": Out(1),
            "row": In(data.ArrayLayout(signed(bits), lanes)),
            "addr": In(addr_bits), "slot0": In(range(epw)),
            "words": In(range(self.row_words + 1)),
            "bus": Out(MemPortSignature(addr_bits, mem_bits)), "idle": Out(1),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        nw, mb, nsel = self.row_words, self.mem_bits, self.mem_bits // 8
        left = Signal(range(nw + 1))           # words of the current row still to issue
        adr = Signal(self.addr_bits)
        words = Signal(nw * mb)                # word 0 of the shift register is on the bus
        sel = Signal(nsel, init=(1 << nsel) - 1)
        pending = Signal(range(MAX_OUTSTANDING + 1))
        stb, took = Signal(), Signal()

        # rows in through a register slice
        fields = [Value.cast(self.row), self.addr, self.slot0, self.words]
        m.submodules.inq = inq = SkidBuffer(sum(len(f) for f in fields))
        m.d.comb += [inq.in_valid.eq(self.valid), self.ready.eq(inq.in_ready),
                     inq.in_data.eq(Cat(*fields))]
        row, addr, slot0, n_words = (Signal.like(f, name=f"in_{i}") for i, f in
                                     enumerate(fields))
        m.d.comb += Cat(row, addr, slot0, n_words).eq(inq.out_data)
        take = Signal()
        # the accepted row's words and byte enables
        new_words, new_sel = Signal(nw * mb), Signal(nsel)
        raw = row
        if self.whole:
            m.d.comb += new_words.eq(_whole_words(raw, self.bits, self.epw, mb, nw))
            m.d.comb += new_sel.eq((1 << nsel) - 1)
        else:
            span = self.lanes * self.bits // 8
            with m.Switch(slot0):  # byte-aligned slots the row fits from
                for p in range(self.epw - self.lanes + 1):
                    if p * self.bits % 8 == 0:
                        with m.Case(p):
                            m.d.comb += [new_words.eq(raw << (p * self.bits)),
                                         new_sel.eq(((1 << span) - 1) << (p * self.bits // 8))]
                with m.Default():  # not a legal slot: a write that changes nothing
                    m.d.comb += [new_words.eq(0), new_sel.eq(0)]

        # "words left", "one word left" and "room for another write" are flags kept with
        # their counters, so the bus's stall reaches the wide word and row selects through
        # one LUT (docs/ARCHITECTURE.md "Timing")
        busy, one_left = Signal(), Signal()
        room, pend_nz = Signal(init=1), Signal()
        m.d.comb += [
            stb.eq(busy & room),
            took.eq(stb & ~self.bus.stall),
            self.bus.cyc.eq(busy | pend_nz), self.bus.stb.eq(stb),
            self.bus.we.eq(1), self.bus.adr.eq(adr), self.bus.dat_w.eq(words[:mb]),
            self.bus.sel.eq(sel),
            inq.out_ready.eq(~busy | (took & one_left)),
            take.eq(inq.out_valid & inq.out_ready),
            self.idle.eq(~busy & ~pend_nz & ~inq.out_valid & inq.in_ready),
        ]
        n_new = Signal.like(left)
        m.d.comb += n_new.eq(Mux(n_words > nw, nw, n_words))
        with m.If(take):
            m.d.sync += [left.eq(n_new), busy.eq(n_new != 0), one_left.eq(n_new == 1),
                         adr.eq(addr), words.eq(new_words), sel.eq(new_sel)]
        with m.Elif(took):
            m.d.sync += [left.eq(left - 1), busy.eq(~one_left), one_left.eq(left == 2),
                         adr.eq(adr + 1), words.eq(words >> mb)]
        pend_next = Signal.like(pending)
        m.d.comb += pend_next.eq(pending + took - (self.bus.ack & pend_nz))
        m.d.sync += [pending.eq(pend_next), room.eq(pend_next != MAX_OUTSTANDING),
                     pend_nz.eq(pend_next != 0)]
        return m


def _whole_words(raw: Value, bits: int, epw: int, mem_bits: int, n: int) -> Value:
    """``n`` words of ``epw`` consecutive ``bits``-bit elements of ``raw``, each zero-padded
    to ``mem_bits``, word 0 least significant."""
    pad = Const(0, mem_bits - epw * bits)
    return Cat(*(Cat(raw[i * epw * bits:(i + 1) * epw * bits], pad) for i in range(n)))
