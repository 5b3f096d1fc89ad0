"""The I/O-light synthesis wrapper: a design with more port bits than the package has pins,
synthesized and placed as it would sit inside a larger design (docs/SYNTH.md).

- Every input bit of the top (except ``clk`` and ``rst``) is driven by a flip-flop of one
  shift register that is filled from ``P`` input pins, ``P`` bits per cycle. Where the top
  has more input bits than ``chain_bits`` (a small fraction of the device's flip-flops),
  one register bit drives ``fanout`` input bits. Synthesis keeps the top as its own module
  (hierarchy is never flattened across this boundary), so shared drivers cannot let Yosys
  merge or remove any logic inside it, and nextpnr does no logic optimisation.
- Every output bit is kept: outputs are XOR-reduced four at a time through registered levels
  down to ``Q`` output pins, so each output bit reaches a pin and nothing is optimised away,
  and every wrapper path is one LUT between flip-flops (never the critical path of a
  pipelined design).
- ``rst`` passes through a two-flip-flop synchroniser; ``clk`` is the one clock. On ECP5
  (``global_reset``) the synchronised reset then drives a DCCA, so it reaches the top's
  flip-flops on a global network, as a board design routes a high-fanout reset: in fabric
  routing the reset net was the routed critical path of the 4 x 8 engine (12.5 ns).

The wrapper's own cells are reported apart from the top's (per-module statistics).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from n2uq_hw.errors import fail

WRAPPER = "synth_wrapper"
_DECL = re.compile(r"^\s*(input|output|inout)\s+(?:wire\s+|reg\s+)?(?:signed\s+)?"
                   r"(?:\[(\d+):(\d+)\]\s*)?(\\\S+|[A-Za-z_][\w$]*)\s*;", re.MULTILINE)


@dataclass(frozen=True)
class Port:
    direction: str  # input | output
    name: str
    width: int


def module_ports(verilog: str, top: str) -> list[Port]:
    """The ports of module ``top`` in ``verilog`` (Amaranth's style: one ``input [h:l] name;``
    declaration per port after the header), in declaration order."""
    m = re.search(rf"^module\s+{re.escape(verilog_name(top))}\s*\(", verilog, re.MULTILINE)
    if m is None:
        fail(f"module {top} not found in the Verilog")
    end = verilog.find("\nendmodule", m.end())
    body = verilog[m.end():end if end >= 0 else len(verilog)]
    ports = []
    for d in _DECL.finditer(body):
        if d[1] == "inout":
            fail(f"module {top} has an inout port ({d[4]}): the synthesis wrapper needs "
                 "inputs and outputs only")
        hi, lo = d[2], d[3]
        width = abs(int(hi) - int(lo)) + 1 if hi is not None else 1
        ports.append(Port(d[1], d[4], width))
    if not any(p.direction == "output" for p in ports):
        fail(f"module {top} has no outputs: nothing would survive synthesis")
    return ports


@dataclass(frozen=True)
class WrapperPlan:
    in_pins: int
    out_pins: int
    input_bits: int
    output_bits: int
    chain_bits: int
    fanout: int
    xor_levels: int

    def to_json(self) -> dict:
        return dict(self.__dict__)


def plan(ports: list[Port], device_ff: int, in_pins: int = 8, out_pins: int = 8) -> WrapperPlan:
    """Sizes of the wrapper for ``ports`` on a device with ``device_ff`` flip-flops: the
    input shift register takes at most a twentieth of them."""
    n_in = sum(p.width for p in ports if p.direction == "input" and p.name not in ("clk", "rst"))
    n_out = sum(p.width for p in ports if p.direction == "output")
    cap = max(in_pins, (device_ff // 20) // in_pins * in_pins)
    chain = max(in_pins, min(math.ceil(max(n_in, 1) / in_pins) * in_pins, cap))
    levels, n = 0, n_out
    while n > out_pins:
        n = math.ceil(n / 4)
        levels += 1
    return WrapperPlan(in_pins, out_pins, n_in, n_out, chain, math.ceil(max(n_in, 1) / chain),
                       levels)


def _ident(name: str) -> str:
    return name + " " if name.startswith("\\") else name


def verilog_name(module: str) -> str:
    """How Verilog spells ``module``: Amaranth's submodules (``engine.dp``) are escaped
    identifiers (``\\engine.dp``)."""
    return module if re.fullmatch(r"[A-Za-z_][\w$]*", module) else "\\" + module


def wrapper_verilog(top: str, ports: list[Port], p: WrapperPlan,
                    global_reset: bool = False) -> str:
    """Verilog of module ``synth_wrapper`` around ``top`` (see the module docstring);
    ``global_reset``: the reset through an ECP5 DCCA global buffer."""
    names = {q.name for q in ports}
    if "clk" not in names:
        fail(f"module {top} has no clk port")
    lines = [
        f"// I/O-light synthesis wrapper around {top} (rtl_gen/synth/wrapper.py, docs/SYNTH.md):",
        (f"// {p.input_bits} input bits from a {p.chain_bits}-bit shift register fed by "
         f"{p.in_pins} pins (fanout {p.fanout}),"),
        (f"// {p.output_bits} output bits XOR-reduced over {p.xor_levels} registered levels "
         f"to {p.out_pins} pins."),
        f"module {WRAPPER} (clk, rst, din, dout);",
        "  input clk;", "  input rst;", f"  input [{p.in_pins - 1}:0] din;",
        f"  output [{p.out_pins - 1}:0] dout;",
        "  reg [1:0] rst_sync = 2'b11;",
        "  always @(posedge clk) rst_sync <= {rst_sync[0], rst};",
        *(["  wire rst_g;", "  DCCA rst_buf (.CLKI(rst_sync[1]), .CE(1'b1), .CLKO(rst_g));"]
          if global_reset else ["  wire rst_g = rst_sync[1];"]),
        f"  reg [{p.chain_bits - 1}:0] chain = {p.chain_bits}'d0;",
    ]
    if p.chain_bits > p.in_pins:
        lines.append(f"  always @(posedge clk) chain <= {{chain[{p.chain_bits - p.in_pins - 1}:0],"
                     " din};")
    else:
        lines.append("  always @(posedge clk) chain <= din;")
    total_in = max(p.input_bits, 1)
    lines.append(f"  wire [{p.chain_bits * p.fanout - 1}:0] stim = "
                 f"{{{p.fanout}{{chain}}}};")
    lines.append(f"  wire [{p.output_bits - 1}:0] resp;")
    conns, at_in, at_out = [], 0, 0
    for q in ports:
        if q.name == "clk":
            conns.append(".clk(clk)")
        elif q.name == "rst" and q.direction == "input":
            conns.append(".rst(rst_g)")
        elif q.direction == "input":
            conns.append(f".{_ident(q.name)}(stim[{at_in + q.width - 1}:{at_in}])")
            at_in += q.width
        else:
            conns.append(f".{_ident(q.name)}(resp[{at_out + q.width - 1}:{at_out}])")
            at_out += q.width
    assert at_in <= total_in and at_out == p.output_bits
    lines.append(f"  {_ident(verilog_name(top))} dut (")
    lines.append(",\n".join(f"    {c}" for c in conns))
    lines.append("  );")
    prev, n = "resp", p.output_bits
    for lvl in range(p.xor_levels):
        m = math.ceil(n / 4)
        lines.append(f"  reg [{m - 1}:0] x{lvl} = {m}'d0;")
        lines.append(f"  wire [{4 * m - 1}:0] x{lvl}_in = {4 * m}'d0 | {prev};")
        lines.append(f"  integer i{lvl};")
        lines.append(f"  always @(posedge clk) for (i{lvl} = 0; i{lvl} < {m}; i{lvl} = "
                     f"i{lvl} + 1) x{lvl}[i{lvl}] <= ^x{lvl}_in[4 * i{lvl} +: 4];")
        prev, n = f"x{lvl}", m
    lines.append(f"  assign dout = {p.out_pins}'d0 | {prev};")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"
