"""Fixed-priority arbiter sharing the one external memory port among ``n`` initiators.

Each ``port{i}`` is the target side of an initiator's :class:`MemPortSignature`; ``bus`` is
the initiator side to the memory. A request is taken from its port exactly on ``stb &
~stall``; every cycle the lowest-index port with a buffered request (below) is granted, and
that request moves on towards ``bus.stb/we/adr/dat_w/sel``.
Pipelined Wishbone acks come back in request order, so each granted request pushes its port
index into an ID FIFO (at most ``depth`` outstanding) and each ``bus.ack`` pops the head and
is routed to that port; ``dat_r`` goes to every port. Ports can therefore interleave single
requests without waiting for each other's acks. The routed acks and ``dat_r`` are
registered: a port sees its ack (and the read data) one cycle after the memory's, so the
ID FIFO's read and compare do not reach the port's counters in the same cycle.

The grant is a register: each cycle it takes the lowest-index port whose buffer will
hold a request on the next cycle (the buffers' ``next_valid``), so it always equals the
lowest-index port with a buffered request, as a decision formed in the cycle would, but
the take, the buffers' pops, the output slice's input and the ID queue's counters start
from flip-flops (the grant's priority chain from the buffers' flags into the ID queue's
counters, across the arbiter, was a routed critical path, session 16).

Every port's request enters through a :class:`SkidBuffer` (docs/ARCHITECTURE.md "Timing"):
a port's ``stall`` is that buffer's registered ``in_ready``, so no initiator's handshake
logic reaches another's (or the memory's ``stall``) in the same cycle; the grant register's
input is formed from the buffers' next flags (their registers and each port's ``stb``, a
register in every initiator here). A request is taken by its port on ``stb & ~stall`` as
before and reaches the memory at least two cycles later: the granted request passes an output
register slice (a :class:`SkidBuffer`), so the memory port's ``stb``, ``adr``, ``dat_w``
and ``sel`` are flip-flops and the memory's ``stall`` moves only that slice. ``bus.cyc`` is
formed from registers too: a buffered request, an outstanding read (the ID FIFO, which
takes a request's port index as it enters the slice), or any port's ``cyc`` a cycle ago.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl_gen.hw import fifo
from rtl_gen.hw.common import check_ints, one_hot_select
from rtl_gen.hw.mem_port import MemPortSignature
from rtl_gen.hw.skid_buffer import SkidBuffer


class BusArbiter(wiring.Component):
    """``port0`` .. ``port{n-1}`` (port0 highest priority) onto ``bus``."""

    def __init__(self, n: int, addr_bits: int, data_bits: int, depth: int = 16) -> None:
        check_ints("BusArbiter", n=(n, 1, 16), depth=(depth, 1, 256))
        self.n, self.addr_bits, self.data_bits, self.depth = n, addr_bits, data_bits, depth
        sig = MemPortSignature(addr_bits, data_bits)
        super().__init__({f"port{i}": In(sig) for i in range(n)} | {"bus": Out(sig)})
        #: high on a cycle where the granted request moves to the output slice (read by
        #: tests/test_hw_bus_arbiter.py's monitor, which checks the grant's priority there)
        self.granting = Signal(name="granting")

    @property
    def ports(self) -> list:
        return [getattr(self, f"port{i}") for i in range(self.n)]

    def elaborate(self, platform) -> Module:
        m = Module()
        ports, bus = self.ports, self.bus
        # port index of every taken request whose ack is still due, oldest first
        m.submodules.ids = ids = fifo.SyncFIFO(width=max(1, (self.n - 1).bit_length()),
                                               depth=self.depth)
        reqs = []  # (valid, we, adr, dat_w, sel) of each port's buffered request
        for i, p in enumerate(ports):
            # late_ready: the grant moves only the buffer's pointers, not its data enables
            sk = SkidBuffer(1 + len(p.adr) + len(p.dat_w) + len(p.sel), late_ready=True)
            m.submodules[f"req{i}"] = sk
            m.d.comb += [sk.in_valid.eq(p.stb), p.stall.eq(~sk.in_ready),
                         sk.in_data.eq(Cat(p.we, p.adr, p.dat_w, p.sel))]
            we, adr, dat_w, sel = (Signal.like(x, name=f"req{i}_{n}") for x, n in (
                (p.we, "we"), (p.adr, "adr"), (p.dat_w, "dat_w"), (p.sel, "sel")))
            m.d.comb += Cat(we, adr, dat_w, sel).eq(sk.out_data)
            reqs.append((sk, we, adr, dat_w, sel))
        # the granted request leaves through an output register slice, so the memory sees
        # flip-flops (the buffers' selects and the grant's had run straight to the memory
        # port: a routed critical path, session 12) and its stall reaches only that slice
        req_w = 1 + self.addr_bits + self.data_bits + self.data_bits // 8
        m.submodules.out = out = SkidBuffer(req_w)
        # one-hot: the lowest-index port with a buffered request, and "any port has one",
        # registered from the buffers' next flags
        grant, any_req = Signal(self.n), Signal()
        nxt = [r[0].next_valid for r in reqs]
        m.d.sync += [grant[i].eq(nxt[i] & ~Cat(*nxt[:i]).any()) for i in range(self.n)]
        m.d.sync += any_req.eq(Cat(*nxt).any())
        # the granted request and its port index: an AND-OR of the one-hot grant
        granted = Signal(req_w)
        m.d.comb += granted.eq(one_hot_select(
            grant, [Cat(we, adr, dat_w, sel) for _, we, adr, dat_w, sel in reqs]))
        m.d.comb += ids.w_data.eq(one_hot_select(
            grant, [Const(i, len(ids.w_data)) for i in range(self.n)]))
        take = Signal()  # the granted request, if any, moves to the output slice
        ports_cyc = Signal()
        m.d.comb += [
            out.in_valid.eq(any_req & ids.w_rdy), out.in_data.eq(granted),
            take.eq(out.in_valid & out.in_ready), self.granting.eq(take),
            bus.stb.eq(out.out_valid), out.out_ready.eq(~bus.stall),
            Cat(bus.we, bus.adr, bus.dat_w, bus.sel).eq(out.out_data),
            # a request's port index queues when it enters the slice: the slice keeps
            # order, so acks still come back in that order
            ids.w_en.eq(take),
            ids.r_en.eq(bus.ack),
            bus.cyc.eq(ids.r_rdy | any_req | ports_cyc),
        ]
        # the ports' cyc a cycle late: a port's requests are held by its buffer (any_req)
        # and its outstanding reads by the ID queue (ids), so the memory sees cyc whenever
        # it must; the ports' own cyc (from their request logic) no longer runs
        # combinationally through the arbiter to the memory port (a routed critical path)
        m.d.sync += ports_cyc.eq(Cat(p.cyc for p in ports).any())
        dat_r = Signal.like(bus.dat_r, reset_less=True)
        m.d.sync += dat_r.eq(bus.dat_r)
        for i, (p, (sk, *_)) in enumerate(zip(ports, reqs, strict=True)):
            m.d.comb += [sk.out_ready.eq(grant[i] & ids.w_rdy & out.in_ready),
                         p.dat_r.eq(dat_r)]
            m.d.sync += p.ack.eq(bus.ack & ids.r_rdy & (ids.r_data == i))
        return m

