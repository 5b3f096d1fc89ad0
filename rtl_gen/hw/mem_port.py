"""The engine's one external memory port: Wishbone B4 pipelined, word addressed.

Signals (initiator side): ``cyc``, ``stb``, ``we``, ``adr`` (word address), ``dat_w``,
``sel`` (byte enables) out; ``stall``, ``ack``, ``dat_r`` in. A request is taken on a cycle
with ``stb & ~stall``; every taken request gets exactly one ``ack``, in order, reads with
their data on ``dat_r``. A burst is consecutive requests to consecutive addresses without
waiting for acks (pipelined mode), so a memory with latency L streams one word per cycle
after L cycles. ``cyc`` stays high while requests are outstanding.

:class:`MemPortSignature` is that bundle; :class:`BurstReader` and :class:`BurstWriter`
drive it for the engine's tile transfers.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw import fifo
from rtl_gen.hw.common import check_int


class MemPortSignature(wiring.Signature):
    """Initiator view of the port (``Out`` = driven by the engine)."""

    def __init__(self, addr_bits: int, data_bits: int) -> None:
        check_int("MemPortSignature", "addr_bits", addr_bits, 8, 48)
        check_int("MemPortSignature", "data_bits", data_bits, 8, 512)
        if data_bits % 8:
            raise ValueError(f"MemPortSignature data_bits must be a multiple of 8, got {data_bits}")
        self.addr_bits, self.data_bits = addr_bits, data_bits
        super().__init__({
            "cyc": Out(1), "stb": Out(1), "we": Out(1), "adr": Out(addr_bits),
            "dat_w": Out(data_bits), "sel": Out(data_bits // 8),
            "stall": In(1), "ack": In(1), "dat_r": In(data_bits),
        })


def _burst_members(owner: str, obj, addr_bits: int, data_bits: int, count_bits: int) -> dict:
    """Checks and records the widths; the members both burst engines share: the port, the
    ``start``/``base``/``count`` command and ``idle``."""
    check_int(owner, "count_bits", count_bits, 1, 32)
    obj.addr_bits, obj.data_bits, obj.count_bits = addr_bits, data_bits, count_bits
    return {"bus": Out(MemPortSignature(addr_bits, data_bits)),
            "start": In(1), "base": In(addr_bits), "count": In(count_bits), "idle": Out(1)}


class BurstReader(wiring.Component):
    """Reads ``count`` words from ``base`` and streams them out (``valid``/``ready``).

    At most ``depth`` reads are outstanding or buffered, so the response FIFO never
    overflows whatever the consumer does; with a ready consumer it sustains one word per
    cycle. ``start`` (one cycle, when ``idle``) takes ``base`` and ``count``; the first
    request goes out two cycles later.
    """

    def __init__(self, addr_bits: int, data_bits: int, count_bits: int = 24,
                 depth: int = 16) -> None:
        check_int("BurstReader", "depth", depth, 2, 1024)
        self.depth = depth
        super().__init__(_burst_members("BurstReader", self, addr_bits, data_bits, count_bits) | {
            "valid": Out(1), "ready": In(1), "data": Out(data_bits),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        # one slack entry: the buffered FIFO's inner queue refuses a write while full even
        # as its head moves to the output register, so ``depth`` credits need depth + 1
        m.submodules.fifo = q = fifo.SyncFIFOBuffered(width=self.data_bits,
                                                      depth=self.depth + 1)
        adr = Signal(self.addr_bits)
        to_issue = Signal(self.count_bits)
        to_receive = Signal(self.count_bits)
        credit = Signal(range(self.depth + 1), init=self.depth)  # free FIFO slots not claimed
        # flags kept in step with the counters (``to_issue != 0``, ``to_receive != 0``,
        # ``credit != 0``): the handshake reads flip-flops, not wide compares
        issuing, receiving, has_credit = Signal(), Signal(), Signal(init=1)
        # the command is registered before it loads the counters, so ``start`` (decoded
        # from the caller's state) never reaches them in the cycle it arrives
        cmd, cmd_base, cmd_count = Signal(), Signal(self.addr_bits), Signal(self.count_bits)
        issue, took, acked, pop = Signal(), Signal(), Signal(), Signal()
        m.d.comb += [
            issue.eq(issuing & has_credit), took.eq(issue & ~self.bus.stall),
            acked.eq(self.bus.ack & receiving),
            self.bus.cyc.eq(issuing | receiving),
            self.bus.stb.eq(issue), self.bus.we.eq(0), self.bus.adr.eq(adr),
            self.bus.sel.eq(~0),
            q.w_en.eq(acked), q.w_data.eq(self.bus.dat_r),
            self.valid.eq(q.r_rdy), self.data.eq(q.r_data), q.r_en.eq(self.ready),
            pop.eq(q.r_rdy & self.ready),
            self.idle.eq(~issuing & ~receiving & ~cmd),
        ]
        with m.If(self.start & self.idle):
            m.d.sync += [cmd.eq(1), cmd_base.eq(self.base), cmd_count.eq(self.count)]
        with m.If(cmd):  # nothing is issuing or receiving on this cycle
            m.d.sync += [cmd.eq(0), adr.eq(cmd_base), to_issue.eq(cmd_count),
                         to_receive.eq(cmd_count), issuing.eq(cmd_count != 0),
                         receiving.eq(cmd_count != 0)]
        with m.If(took):
            m.d.sync += [adr.eq(adr + 1), to_issue.eq(to_issue - 1),
                         issuing.eq(to_issue != 1)]
        with m.If(acked):
            m.d.sync += [to_receive.eq(to_receive - 1), receiving.eq(to_receive != 1)]
        with m.If(took & ~pop):
            m.d.sync += [credit.eq(credit - 1), has_credit.eq(credit != 1)]
        with m.Elif(pop & ~took):
            m.d.sync += [credit.eq(credit + 1), has_credit.eq(1)]
        return m


class BurstWriter(wiring.Component):
    """Writes the words streamed in (``valid``/``ready``) to ``base``, ``base + 1``, ...;
    ``sel`` travels with each word. ``idle`` once every write has been acknowledged."""

    def __init__(self, addr_bits: int, data_bits: int, count_bits: int = 24) -> None:
        super().__init__(_burst_members("BurstWriter", self, addr_bits, data_bits, count_bits) | {
            "valid": In(1), "ready": Out(1), "data": In(data_bits), "sel": In(data_bits // 8),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        adr = Signal(self.addr_bits)
        to_issue = Signal(self.count_bits)
        to_ack = Signal(self.count_bits)
        active = Signal()
        m.d.comb += [
            active.eq(to_issue != 0),
            self.bus.cyc.eq(active | (to_ack != 0)),
            self.bus.stb.eq(active & self.valid), self.bus.we.eq(1), self.bus.adr.eq(adr),
            self.bus.dat_w.eq(self.data), self.bus.sel.eq(self.sel),
            self.ready.eq(active & ~self.bus.stall),
            self.idle.eq((to_issue == 0) & (to_ack == 0)),
        ]
        with m.If(self.start & self.idle):
            m.d.sync += [adr.eq(self.base), to_issue.eq(self.count), to_ack.eq(self.count)]
        with m.Else():
            with m.If(self.bus.stb & ~self.bus.stall):
                m.d.sync += [adr.eq(adr + 1), to_issue.eq(to_issue - 1)]
            with m.If(self.bus.ack & (to_ack != 0)):
                m.d.sync += to_ack.eq(to_ack - 1)
        return m
