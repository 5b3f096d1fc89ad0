"""Row writer: one output row of a layer (the ``lanes`` results of one output-channel group
at one pixel) into a tensor in external memory, in rtl_gen/compile/image.py's layout.

A word holds ``E = mem_bits // bits`` elements, element ``j`` at bit ``(j % E) * bits``, so
two row shapes occur: ``lanes % E == 0`` fills ``W = lanes // E`` whole words (``sel`` all
ones, the bits above ``E * bits`` zero), and ``E % lanes == 0`` fills slots ``slot0 ..
slot0 + lanes - 1`` of one word (``sel`` exactly those bytes, so the rest of the word keeps
what other groups wrote). An accepted row is registered as its words in one of two
banks, and the words leave one per cycle on the pipelined Wishbone port (consecutive
addresses from ``addr``, never waiting for acks) while the other bank takes the next row, so
rows stream at one word per cycle; the words leave through a two-entry buffer
(:class:`SkidBuffer`, ``late_ready``), so the bus's ``stb`` and data are registers and its
``stall`` moves only that buffer's pointers. Rows enter through a :class:`SkidBuffer`, so
``ready`` is a register and the bus's ``stall`` does not reach the row's producer in the
same cycle; ``took`` (a register: a row left that buffer last cycle) lets a producer
count the rows it holds instead of reading ``ready`` (at most ``CAPACITY`` rows are in the
buffer; the engine sends by that credit). ``words`` clips a tensor's last group (0: accept, write
nothing; values above ``W`` count as ``W``). Lanes beyond the channel count that fall in a
written word are written as given (zero for an image equal to ``pack``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.compile.image import per_word
from rtl_gen.hw import fifo
from rtl_gen.hw.common import check_int, check_ints
from rtl_gen.hw.mem_port import MemPortSignature
from rtl_gen.hw.skid_buffer import SkidBuffer

MAX_OUTSTANDING = 255  # unacknowledged writes; issue pauses at this many
CAPACITY = 2  # rows the input register slice holds: ``ready`` is high below this many


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
            "valid": In(1), "ready": Out(1), "took": Out(1),
            "row": In(data.ArrayLayout(signed(bits), lanes)),
            "addr": In(addr_bits), "slot0": In(range(epw)),
            "words": In(range(self.row_words + 1)),
            "bus": Out(MemPortSignature(addr_bits, mem_bits)), "idle": Out(1),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        nw, mb, nsel = self.row_words, self.mem_bits, self.mem_bits // 8

        # rows in through a register slice
        fields = [Value.cast(self.row), self.addr, self.slot0, self.words]
        m.submodules.inq = inq = SkidBuffer(sum(len(f) for f in fields))
        m.d.comb += [inq.in_valid.eq(self.valid), self.ready.eq(inq.in_ready),
                     inq.in_data.eq(Cat(*fields))]
        row, addr, slot0, n_words = (Signal.like(f, name=f"in_{i}") for i, f in
                                     enumerate(fields))
        m.d.comb += Cat(row, addr, slot0, n_words).eq(inq.out_data)
        # the accepted row's words and byte enables
        new_words, new_sel = Signal(nw * mb), Signal(nsel)
        if self.whole:
            m.d.comb += new_words.eq(_whole_words(row, self.bits, self.epw, mb, nw))
            m.d.comb += new_sel.eq((1 << nsel) - 1)
        else:
            span = self.lanes * self.bits // 8
            with m.Switch(slot0):  # byte-aligned slots the row fits from
                for p in range(self.epw - self.lanes + 1):
                    if p * self.bits % 8 == 0:
                        with m.Case(p):
                            m.d.comb += [new_words.eq(row << (p * self.bits)),
                                         new_sel.eq(((1 << span) - 1) << (p * self.bits // 8))]
                with m.Default():  # not a legal slot: a write that changes nothing
                    m.d.comb += [new_words.eq(0), new_sel.eq(0)]
        n_new = Signal(range(nw + 1))
        m.d.comb += n_new.eq(Mux(n_words > nw, nw, n_words))

        # two row banks: a row is loaded into the free bank at wp while the bank at rp
        # issues its words, word idx on the bus. Every wide register's enable (the load)
        # comes from the input register and the banks' flags; the bus's stall (through
        # `took`) moves only the pointers, counters and flags (docs/ARCHITECTURE.md "Timing")
        banks = []
        for b in range(2):
            banks.append({
                "full": Signal(name=f"b{b}_full"),
                "one": Signal(name=f"b{b}_one"),  # one word left
                "left": Signal(range(nw + 1), name=f"b{b}_left"),
                "adr": Signal(self.addr_bits, name=f"b{b}_adr"),
                "words": Signal(nw * mb, name=f"b{b}_words"),
                "sel": Signal(nsel, name=f"b{b}_sel"),
            })
        wp, rp = Signal(), Signal()
        idx = Signal(range(nw))
        free = Signal()   # the bank at wp is free
        busy = Signal()   # the bank at rp is full
        one_left = Signal()
        # words leave through a two-entry buffer (late_ready): the bus's stb and data are
        # its registers, so the bank flags' decision (stb) has its loads here only; it had
        # been placed beside the arbiter, its port's loads, and fed back into the banks'
        # enables (a routed critical path, session 12). A word reaches the bus a cycle later.
        m.submodules.outb = outb = SkidBuffer(self.addr_bits + mb + nsel, late_ready=True)
        # writes accepted (into outb) and not acknowledged: their count's "any" and "room
        # for another" are registers; acks come only for writes outb has put on the bus
        took = Signal()
        pend = fifo.Counted(m, MAX_OUTSTANDING, took, self.bus.ack)
        room, pend_nz = pend.nonfull, pend.nonempty
        stb, take = Signal(), Signal()
        adr_w, dat_w, sel_w = Signal(self.addr_bits), Signal(mb), Signal(nsel)
        words = Mux(rp, banks[1]["words"], banks[0]["words"])  # the issuing bank's row
        m.d.comb += [
            free.eq(Mux(wp, ~banks[1]["full"], ~banks[0]["full"])),
            busy.eq(Mux(rp, banks[1]["full"], banks[0]["full"])),
            one_left.eq(Mux(rp, banks[1]["one"], banks[0]["one"])),
            inq.out_ready.eq(free),
            take.eq(inq.out_valid & free),
            stb.eq(busy & room),
            took.eq(stb & outb.in_ready),
            adr_w.eq(Mux(rp, banks[1]["adr"], banks[0]["adr"])),
            dat_w.eq(words.word_select(idx, mb) if nw > 1 else words),
            sel_w.eq(Mux(rp, banks[1]["sel"], banks[0]["sel"])),
            outb.in_valid.eq(stb), outb.in_data.eq(Cat(adr_w, dat_w, sel_w)),
            outb.out_ready.eq(~self.bus.stall),
            self.bus.cyc.eq(busy | pend_nz), self.bus.stb.eq(outb.out_valid),
            self.bus.we.eq(1),
            Cat(self.bus.adr, self.bus.dat_w, self.bus.sel).eq(outb.out_data),
            self.idle.eq(~banks[0]["full"] & ~banks[1]["full"] & ~pend_nz
                         & ~inq.out_valid & inq.in_ready),
        ]
        m.d.sync += self.took.eq(take)
        with m.If(take & (n_new != 0)):
            m.d.sync += wp.eq(~wp)
        with m.If(took):
            with m.If(one_left):
                m.d.sync += [rp.eq(~rp), idx.eq(0)]
            with m.Else():
                m.d.sync += idx.eq(idx + 1)
        for b, bk in enumerate(banks):
            with m.If(take & (wp == b)):
                m.d.sync += [bk["words"].eq(new_words), bk["sel"].eq(new_sel),
                             bk["adr"].eq(addr), bk["left"].eq(n_new),
                             bk["full"].eq(n_new != 0), bk["one"].eq(n_new == 1)]
            with m.Elif(took & (rp == b)):
                m.d.sync += [bk["adr"].eq(bk["adr"] + 1), bk["left"].eq(bk["left"] - 1),
                             bk["one"].eq(bk["left"] == 2)]
                with m.If(bk["one"]):
                    m.d.sync += bk["full"].eq(0)
        return m


def _whole_words(raw: Value, bits: int, epw: int, mem_bits: int, n: int) -> Value:
    """``n`` words of ``epw`` consecutive ``bits``-bit elements of ``raw``, each zero-padded
    to ``mem_bits``, word 0 least significant."""
    pad = Const(0, mem_bits - epw * bits)
    return Cat(*(Cat(raw[i * epw * bits:(i + 1) * epw * bits], pad) for i in range(n)))
