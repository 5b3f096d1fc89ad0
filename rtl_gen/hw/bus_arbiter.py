"""Fixed-priority arbiter sharing the one external memory port among ``n`` initiators.

Each ``port{i}`` is the target side of an initiator's :class:`MemPortSignature`; ``bus`` is
the initiator side to the memory. Every cycle the lowest-index port with ``stb`` is granted
and drives ``bus.stb/we/adr/dat_w/sel``; a port sees ``stall = 0`` only when granted, the ID
FIFO has room and ``bus.stall`` is low, so its request is taken exactly on ``stb & ~stall``.
Pipelined Wishbone acks come back in request order, so each taken request pushes its port
index into an ID FIFO (at most ``depth`` outstanding) and each ``bus.ack`` pops the head and
is routed to that port; ``dat_r`` goes to every port. Ports can therefore interleave single
requests without waiting for each other's acks. Stall is combinational from ``stb``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw.common import check_ints
from rtl_gen.hw.mem_port import MemPortSignature


class BusArbiter(wiring.Component):
    """``port0`` .. ``port{n-1}`` (port0 highest priority) onto ``bus``."""

    def __init__(self, n: int, addr_bits: int, data_bits: int, depth: int = 16) -> None:
        check_ints("BusArbiter", n=(n, 1, 16), depth=(depth, 1, 256))
        self.n, self.addr_bits, self.data_bits, self.depth = n, addr_bits, data_bits, depth
        sig = MemPortSignature(addr_bits, data_bits)
        super().__init__({f"port{i}": In(sig) for i in range(n)} | {"bus": Out(sig)})

    @property
    def ports(self) -> list:
        return [getattr(self, f"port{i}") for i in range(self.n)]

    def elaborate(self, platform) -> Module:
        m = Module()
        ports, bus = self.ports, self.bus
        # port index of every taken request whose ack is still due, oldest first
        m.submodules.ids = ids = fifo.SyncFIFO(width=max(1, (self.n - 1).bit_length()),
                                               depth=self.depth)
        grant = Signal(self.n)  # one-hot: the lowest-index port with stb
        for i, p in enumerate(ports):
            with (m.If if i == 0 else m.Elif)(p.stb):
                m.d.comb += [grant[i].eq(1), ids.w_data.eq(i),
                             bus.we.eq(p.we), bus.adr.eq(p.adr), bus.dat_w.eq(p.dat_w),
                             bus.sel.eq(p.sel)]
        take = Signal()  # the granted request, if any, is taken this cycle
        m.d.comb += [
            bus.stb.eq(grant.any() & ids.w_rdy),
            take.eq(bus.stb & ~bus.stall),
            ids.w_en.eq(take),
            ids.r_en.eq(bus.ack),
            bus.cyc.eq(ids.r_rdy | Cat(p.cyc for p in ports).any()),
        ]
        for i, p in enumerate(ports):
            m.d.comb += [
                p.stall.eq(~(grant[i] & ids.w_rdy & ~bus.stall)),
                p.ack.eq(bus.ack & ids.r_rdy & (ids.r_data == i)),
                p.dat_r.eq(bus.dat_r),
            ]
        return m
