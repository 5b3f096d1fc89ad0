"""Random-access word reader: a stream of addresses in, the words read out in order.

Each accepted request (``a_valid & a_ready``) yields exactly one output entry, in request
order, carrying its ``tag`` and ``skip`` flag. A skip request issues no bus access and
yields data 0 once every earlier entry has been delivered; any other request issues one
pipelined Wishbone read of word ``a_addr`` from a two-entry request buffer
(:class:`SkidBuffer`), at least one cycle after it is accepted: ``a_ready`` reads only
registers (a skip, too, waits for room in that buffer), and the memory port's ``stall``
moves only that buffer's pointers (``stall`` -> ``a_ready`` -> the entry queue's level
was a routed critical path, session 12). Reads never wait for acks: up to ``depth``
entries are outstanding or queued (one more waits in the output register), and no request
is accepted beyond that, so the response FIFO never overflows whatever the consumer does.
Entries (tag, skip) queue at accept, data a cycle after ack: the ack and ``dat_r`` are
registered here before the word queue (the arbiter's registers sit by the memory port,
and the ack into the queue's level and LUT RAM write port crossed the device, session
13). The output pairs the head
entry with the head data word.

Latency: a read's entry is ``valid`` three cycles after its ack (memory latency ``L`` plus
4 from accept), a skip's three cycles after accept: the output (``valid``, ``data``,
``tag``, ``skip``) is a register in front of the word queue's LUT RAM head and the entry
queue's head register. The entry queue is buffered (its head a flip-flop): the head's
"skip" flag decides the pop, which enables both queues' counters, and read out of LUT RAM
it put a RAM read in front of them (a routed critical path, session 15). An entry occupies
its credit from the cycle after accept to the cycle it enters the output register, so a
ready consumer and a stall-free memory see one entry per cycle when ``depth >= L + 4``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw import fifo
from rtl_gen.hw.common import check_ints
from rtl_gen.hw.mem_port import MemPortSignature
from rtl_gen.hw.skid_buffer import SkidBuffer


class StreamReader(wiring.Component):
    """Requests in (``a_*``), one entry per request out (``valid``/``ready``)."""

    def __init__(self, addr_bits: int, data_bits: int, tag_bits: int = 1,
                 depth: int = 8) -> None:
        check_ints("StreamReader", tag_bits=(tag_bits, 1, 64), depth=(depth, 2, 1024))
        self.addr_bits, self.data_bits, self.tag_bits, self.depth = (addr_bits, data_bits,
                                                                     tag_bits, depth)
        super().__init__({
            "a_valid": In(1), "a_ready": Out(1), "a_addr": In(addr_bits), "a_skip": In(1),
            "a_tag": In(tag_bits),
            "valid": Out(1), "ready": In(1), "data": Out(data_bits), "tag": Out(tag_bits),
            "skip": Out(1),
            "bus": Out(MemPortSignature(addr_bits, data_bits)),
            "idle": Out(1),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        bus = self.bus
        # every accepted entry, (tag, skip), until delivered: its level is the credit count
        m.submodules.entries = entries = fifo.SyncFIFOBuffered(width=self.tag_bits + 1,
                                                               depth=self.depth)
        # read data, written a cycle after ack; never more words than entries, so never
        # refuses one
        m.submodules.words = words = fifo.SyncFIFO(width=self.data_bits, depth=self.depth)
        accept, took, pop, head_valid = (Signal() for _ in range(4))
        # reads taken, not yet acknowledged: "any" is a flip-flop kept in step with the
        # count (no compare in front of the word queue's write); never more than ``depth``
        # (the entries' credits), so every taken read is counted
        pend = fifo.Counted(m, self.depth, took, bus.ack)
        ack_r, dat_r = Signal(), Signal(self.data_bits, reset_less=True)
        m.d.sync += [ack_r.eq(pend.do_read), dat_r.eq(bus.dat_r)]
        outstanding = pend.nonempty
        # the accepted reads' addresses until the memory takes them (their entries are
        # queued already, so the credits cover them)
        m.submodules.req = req = SkidBuffer(self.addr_bits, late_ready=True)
        head_skip = entries.r_data[-1]
        m.d.comb += [
            req.in_valid.eq(self.a_valid & ~self.a_skip & entries.w_rdy),
            req.in_data.eq(self.a_addr), req.out_ready.eq(~bus.stall),
            bus.stb.eq(req.out_valid),
            bus.we.eq(0), bus.adr.eq(req.out_data), bus.dat_w.eq(0), bus.sel.eq(~0),
            bus.cyc.eq(bus.stb | outstanding),
            # a skip waits for the request buffer too: ``a_ready`` is then two registers,
            # not a select of the producer's ``a_skip`` (its skid slice's pointer mux), in
            # front of the entry queue's counters (a routed late input, session 16)
            self.a_ready.eq(entries.w_rdy & req.in_ready),
            accept.eq(self.a_valid & self.a_ready),
            took.eq(bus.stb & ~bus.stall),
            entries.w_en.eq(accept), entries.w_data.eq(Cat(self.a_tag, self.a_skip)),
            words.w_en.eq(ack_r), words.w_data.eq(dat_r),
            head_valid.eq(entries.r_rdy & (head_skip | words.r_rdy)),
            pop.eq(head_valid & (~self.valid | self.ready)),
            entries.r_en.eq(pop), words.r_en.eq(pop & ~head_skip),
            self.idle.eq((entries.level == 0) & ~self.valid),
        ]
        # the output register: the word queue's head is a LUT RAM read, so the consumer sees
        # flip-flops; its wide enable is the register's own state and the consumer's ready
        with m.If(~self.valid | self.ready):
            m.d.sync += [self.valid.eq(head_valid), self.data.eq(Mux(head_skip, 0, words.r_data)),
                         self.tag.eq(entries.r_data[:self.tag_bits]), self.skip.eq(head_skip)]
        return m
