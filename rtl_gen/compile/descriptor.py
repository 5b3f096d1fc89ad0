"""The engine's binary program: static engine parameters and per-layer descriptors.

The engine top level (rtl_gen/hw/engine.py) is generated for one compiled program: its
:class:`EngineSpec` fixes the widths, the set of input element widths its lane assemblers
handle, its output row writers and table sizes. At run time it reads everything else from
the memory image, in 64-bit little-endian *slots* (``mem_bits / 64`` words each, or
``64 / mem_bits`` words per slot on a narrower port):

- the header at word 0: slot 0 = layer count;
- per layer one descriptor of ``len(spec.desc_fields)`` slots (:func:`layer_fields`), at
  ``header + 1 + index * D`` slots;
- per layer a chunk table (one slot per window chunk: ``ky0 | kx0 << 8 | c0 << 16 |
  n << 32 | phase << 48``, rtl_gen/compile/chunks.py), its weight stream and its parameter
  table in the engine layout (:func:`param_fields`: per output channel, one slot per field).

A layer is a *conv* (MAC array, digit passes) or a *pool* (``max`` or ``sum`` over a window
of one channel group per lane, no MAC): ``maxpool``, ``avgpool_sum`` (an ``H x W`` window)
and vector layers (a ``1 x 1`` sum, i.e. the value itself) all run as pools; the epilogue
then applies the layer's requant/add/RPReLU/thresholds either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from n2uq_hw.errors import fail
from rtl_gen.compile.chunks import chunks
from rtl_gen.compile.image import MemoryImage, per_word, row_words, storage_bits
from rtl_gen.compile.program import Layer, Program, conv_dims

KIND = {"conv": 0, "max": 1, "sum": 2}
SOURCES = ("fixed", "code0", "code1")  # the epilogue outputs a row writer can take

_COMMON = (
    "kind", "in_base", "in_sel", "in_wpp", "in_epw", "flip_mask",
    "cin", "h", "w", "k", "stride", "pad", "oh", "ow", "o", "groups",
    "chunks", "chunk_base", "chan_step",
    "x_digits", "w_digits", "w_scale_log2", "ow_const", "input_shift",
    "pad0", "pad1", "pad2", "pad3", "abuf", "in_words",
    "wbase", "blocks", "pbase",
    "en_requant", "en_add", "en_rprelu", "shift", "rq_lo", "rq_hi", "add_lo", "add_hi",
    "rp_lo", "rp_hi", "a_left", "a_right", "b_left", "b_right", "slope_frac",
    "res_en", "res_base", "res_wpp", "res_epw", "res_mask",
)
_WRITER = ("en", "base", "wpp", "epw", "gwords", "rowwords")


def slot_words(mem_bits: int) -> int:
    """Memory words per 64-bit slot (the engine's ports are 16, 32 or 64 bits)."""
    if mem_bits not in (16, 32, 64):
        fail(f"the engine top level supports 16-, 32- and 64-bit memory ports, not {mem_bits}")
    return 64 // mem_bits


@dataclass(frozen=True)
class EngineSpec:
    """Static parameters of the engine generated for one program."""

    pe: int
    simd: int
    a_bits: int
    w_bits: int
    mem_bits: int
    addr_bits: int
    widths: tuple[tuple[str, int], ...]
    in_bits: tuple[int, ...]  # element widths of the layer inputs (one lane assembler each)
    res_bits: int  # residual tensor width (0: no layer reads one)
    writers: tuple[tuple[str, int], ...]  # (epilogue output, element bits) per row writer
    chunk_depth: int
    wbuf_blocks: int  # weight blocks per half of the weight buffer
    abuf_words: int
    xu_bits: int  # widest offset activation the operand stage forms
    epi_lanes: int = 0  # serial epilogue lanes (rtl_gen/hw/datapath.py); 0: pe
    cells: str = ""  # device cells in the MAC array: "" (generic) or "ecp5" (and_sums.py)

    @property
    def epi(self) -> int:
        return self.epi_lanes or self.pe

    @property
    def w(self) -> dict[str, int]:
        return dict(self.widths)

    @property
    def levels(self) -> int:
        return 2 ** self.w["code"] - 1

    @property
    def param_fields(self) -> list[str]:
        return param_fields(self.levels, bool(self.w["two_sided"]))

    @property
    def desc_fields(self) -> list[str]:
        return list(_COMMON) + [f"wr{i}_{f}" for i in range(len(self.writers))
                                for f in _WRITER]


def param_fields(levels: int, two_sided: bool) -> list[str]:
    """The engine's parameter table layout: per output channel, one slot per field."""
    out = ["init", "mult", "bias", "bias1", "slope", "bias2"]
    for t in range(2):
        out += [f"pos{t}_{i}" for i in range(levels)]
        if two_sided:
            out += [f"neg{t}_{i}" for i in range(levels)] + [f"bp{t}"]
    return out


def pool_kind(program: Program, layer: Layer) -> str:
    """``conv``, ``max`` or ``sum`` (avgpool_sum and vector layers)."""
    if layer.kind == "conv":
        return "conv"
    return "max" if layer.kind == "maxpool" else "sum"


def pool_dims(program: Program, layer: Layer) -> dict:
    """Loop bounds of a pool layer (window over one input tensor, channels per lane)."""
    g = program.graph
    head = g.node(layer.nodes[0])
    x = g.node(layer.reads[0]).type
    c = x.shape[0]
    h, w = (x.shape[1], x.shape[2]) if len(x.shape) == 3 else (1, 1)
    if layer.kind == "maxpool":
        k, s, p = (int(head.attrs[a]) for a in ("kernel", "stride", "padding"))
        oh, ow = head.type.shape[1:]
    elif layer.kind == "avgsum":
        if h != w:
            fail(f"layer {layer.name}: avgpool_sum over a {h}x{w} input (square only)")
        k, s, p, oh, ow = h, 1, 0, 1, 1
    else:
        k, s, p, oh, ow = 1, 1, 0, h, w
    return {"O": c, "I": c, "k": k, "s": s, "p": p, "H": h, "W": w, "OH": oh, "OW": ow}


def layer_dims(program: Program, layer: Layer) -> dict:
    if layer.kind == "conv":
        return conv_dims(program.graph, layer)
    return pool_dims(program, layer)


def chunk_slots(program: Program, layer: Layer) -> list[int]:
    """The layer's chunk table (see the module docstring); pools: one chunk per window
    position, ``PE`` lanes from channel 0 (the controller adds ``og * PE``)."""
    cfg = program.config
    d = layer_dims(program, layer)
    if layer.kind == "conv":
        cin, k = d["I"], d["k"]
        out = []
        for ch in chunks(cin, k, cfg.simd):
            ky, rem = divmod(ch.t0, k * cin)
            kx, c0 = divmod(rem, cin)
            out.append(ky | kx << 8 | c0 << 16 | ch.n << 32 | (ch.t0 % cin) << 48)
        return out
    n = min(cfg.pe, d["I"])
    return [ky | kx << 8 | n << 32 for ky in range(d["k"]) for kx in range(d["k"])]


def _outputs(program: Program, layer: Layer) -> dict[str, str]:
    """Epilogue output feeding each tensor the layer writes (``fixed``/``code0``/``code1``);
    one clear error for a written value the epilogue cannot deliver."""
    g = program.graph
    thr = [n for n in layer.nodes if g.node(n).op == "threshold"]
    values = [n for n in layer.nodes if g.node(n).op != "threshold"]
    out = {}
    for name in layer.writes:
        if name in thr:
            out[name] = f"code{thr.index(name)}"
        elif name == values[-1]:
            out[name] = "fixed"
        else:
            fail(f"layer {layer.name} writes {name}, an intermediate value of its epilogue "
                 "chain; the engine writes only the chain's last value and its codes")
    return out


def device_cells(target: str) -> str:
    """The MAC array's cells for a build target: ECP5 carry cells on ECP5 devices."""
    return "ecp5" if target.startswith("ecp5") else ""


def engine_spec(program: Program, widths: dict[str, int], image_words: int) -> EngineSpec:
    """The static parameters of the engine for ``program`` whose memory image spans
    ``image_words`` words; one clear error for a program this engine cannot run."""
    g, cfg = program.graph, program.config
    slot_words(cfg.mem_bits)
    if cfg.pe & (cfg.pe - 1):
        fail(f"the engine top level needs a power-of-two PE, got {cfg.pe}")
    in_bits, writers, res_bits = set(), [], set()
    depth, blocks, xu, abuf = 1, 1, 1, 0
    abuf_cap = cfg.abuf_bits // cfg.mem_bits
    for layer in program.layers:
        x = g.node(layer.reads[0]).type
        in_bits.add(storage_bits(x.bits))
        d = layer_dims(program, layer)
        if layer.kind != "conv" and cfg.pe > cfg.simd:
            fail(f"layer {layer.name}: pool and vector layers need PE <= SIMD "
                 f"(got {cfg.pe} x {cfg.simd})")
        if layer.kind == "conv":
            plan = layer.plan
            if len(set(plan.ox.tolist())) > 1 and d["I"] > 4:
                fail(f"layer {layer.name}: per-channel zero points on more than 4 channels")
            xu = max(xu, plan.x_bits)
            blocks = max(blocks, len(chunks(d["I"], d["k"], cfg.simd)) * plan.w_digits)
        depth = max(depth, len(chunk_slots(program, layer)))
        words = MemoryImage(cfg.mem_bits).tensor_layout(x)
        if words[0] * words[1] <= abuf_cap:
            abuf = max(abuf, words[0] * words[1])
        for r in layer.reads[1:]:
            res_bits.add(storage_bits(g.node(r).type.bits))
        for name, src in _outputs(program, layer).items():
            bits = storage_bits(g.node(name).type.bits)
            if bits > cfg.mem_bits:
                fail(f"layer {layer.name} writes {bits}-bit elements, wider than the "
                     f"{cfg.mem_bits}-bit memory port")
            if (cfg.pe * bits) % 8:
                fail(f"layer {layer.name}: PE x {bits}-bit outputs is not a whole number of "
                     "bytes")
            epw = per_word(bits, cfg.mem_bits)
            if cfg.pe % epw and epw % cfg.pe:
                fail(f"layer {layer.name}: PE {cfg.pe} neither divides nor is a multiple of the "
                     f"{epw} {bits}-bit elements per memory word")
            if (src, bits) not in writers:
                writers.append((src, bits))
    if len(res_bits) > 1:
        fail(f"residual tensors of several widths ({sorted(res_bits)}); the engine has one")
    addr_bits = max(12, image_words.bit_length())
    return EngineSpec(cfg.pe, cfg.simd, cfg.a_bits, cfg.w_bits, cfg.mem_bits, addr_bits,
                      tuple(sorted(widths.items())), tuple(sorted(in_bits)),
                      max(res_bits, default=0), tuple(writers), depth, blocks, abuf, xu,
                      cfg.epi, device_cells(cfg.target))


def union_spec(specs: list[EngineSpec]) -> EngineSpec:
    """One engine that runs every program of ``specs`` (their programs laid out with it,
    rtl_gen/compile/emit.py ``spec=``): widest datapath, every input width and writer, the
    largest tables. The array shape and port must agree; the device cells are the first
    spec's (they do not change what the engine computes)."""
    first = specs[0]
    for s in specs[1:]:
        for k in ("pe", "simd", "a_bits", "w_bits", "mem_bits", "epi"):
            if getattr(s, k) != getattr(first, k):
                fail(f"engines differ in {k}: {getattr(s, k)} vs {getattr(first, k)}")
    res = {s.res_bits for s in specs} - {0}
    if len(res) > 1:
        fail(f"residual tensors of several widths ({sorted(res)}); the engine has one")
    w: dict[str, int] = {}
    for s in specs:
        for k, v in s.widths:
            w[k] = max(w.get(k, v), v)
    writers: list[tuple[str, int]] = []
    for s in specs:
        writers += [x for x in s.writers if x not in writers]
    return EngineSpec(first.pe, first.simd, first.a_bits, first.w_bits, first.mem_bits,
                      max(s.addr_bits for s in specs), tuple(sorted(w.items())),
                      tuple(sorted({b for s in specs for b in s.in_bits})), max(res, default=0),
                      tuple(writers), max(s.chunk_depth for s in specs),
                      max(s.wbuf_blocks for s in specs), max(s.abuf_words for s in specs),
                      max(s.xu_bits for s in specs), first.epi, first.cells)


def _signed_slot(v: int) -> int:
    return int(v) & ((1 << 64) - 1)


def layer_fields(program: Program, layer: Layer, img: MemoryImage, spec: EngineSpec,
                 consts: dict) -> dict[str, int]:
    """The descriptor of ``layer`` as field -> int (signed values in two's complement)."""
    g, cfg = program.graph, program.config
    d = layer_dims(program, layer)
    x = g.node(layer.reads[0]).type
    pixels, wpp = img.tensor_layout(x)
    kind = pool_kind(program, layer)
    xs = storage_bits(x.bits)
    f: dict[str, int] = dict.fromkeys(spec.desc_fields, 0)
    in_words = pixels * wpp
    f.update(kind=KIND[kind], in_base=img.regions[layer.reads[0]].offset // img.word_bytes,
             in_sel=spec.in_bits.index(xs), in_wpp=wpp, in_epw=per_word(xs, cfg.mem_bits),
             # conv: the sign flip of the operand offset (its digits stop at the value's
             # width); pool: the sign bit of the stored, sign-extended element
             flip_mask=0 if not x.signed else 1 << ((x.bits if kind == "conv" else xs) - 1),
             cin=d["I"], h=d["H"], w=d["W"], k=d["k"], stride=d["s"], pad=d["p"], oh=d["OH"],
             ow=d["OW"], o=d["O"], groups=-(-d["O"] // cfg.pe),
             chunks=len(chunk_slots(program, layer)),
             chunk_base=img.regions[f"{layer.name}.chunks"].offset // img.word_bytes,
             chan_step=0 if kind == "conv" else cfg.pe,
             abuf=int(in_words <= spec.abuf_words), in_words=in_words,
             pbase=img.regions[f"{layer.name}.params"].offset // img.word_bytes)
    if kind == "conv":
        plan = layer.plan
        pads = [int(plan.ox[c % len(plan.ox)]) for c in range(4)]
        f.update(x_digits=plan.x_digits, w_digits=plan.w_digits,
                 w_scale_log2=plan.w_scale_log2, ow_const=plan.ow, input_shift=plan.input_shift,
                 pad0=pads[0], pad1=pads[1], pad2=pads[2], pad3=pads[3],
                 wbase=img.regions[f"{layer.name}.weights"].offset // img.word_bytes,
                 blocks=len(chunks(d["I"], d["k"], cfg.simd)) * plan.w_digits)
        if plan.in_offset and not x.signed:
            fail(f"layer {layer.name}: an input offset on an unsigned input")
    else:
        f.update(x_digits=1, w_digits=1)
    f.update(consts)
    # residual (the add's other operand): same pixels as the output, PE channels per row
    if len(layer.reads) > 1:
        r = g.node(layer.reads[1]).type
        _, rw = img.tensor_layout(r)
        f.update(res_en=1, res_base=img.regions[layer.reads[1]].offset // img.word_bytes,
                 res_wpp=rw, res_epw=per_word(storage_bits(r.bits), cfg.mem_bits),
                 res_mask=(1 << (storage_bits(r.bits) - 1)) if r.signed else 0)
    for name, src in _outputs(program, layer).items():
        t = g.node(name).type
        tb = storage_bits(t.bits)
        i = spec.writers.index((src, tb))
        _, wpp_t = img.tensor_layout(t)
        epw = per_word(tb, cfg.mem_bits)
        f.update({f"wr{i}_en": 1, f"wr{i}_base": img.regions[name].offset // img.word_bytes,
                  f"wr{i}_wpp": wpp_t, f"wr{i}_epw": epw,
                  f"wr{i}_gwords": cfg.pe // epw, f"wr{i}_rowwords": row_words(
                      t.shape[0], tb, cfg.mem_bits)})
    return f


def pack_slots(values: list[int], mem_bits: int) -> bytes:
    """64-bit little-endian slots (two's complement) as bytes for a ``mem_bits`` image."""
    slot_words(mem_bits)
    return np.array([_signed_slot(v) for v in values], dtype="<u8").tobytes()


def _range(bits: int) -> tuple[int, int]:
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def epilogue_consts(program: Program, layer: Layer, fixed_bits: int) -> dict[str, int]:
    """The descriptor's epilogue fields: stage enables, shifts and saturation limits (a
    switched-off requant is the identity ``M = 1, B = 0, S = 0`` saturating to the fixed
    width, rtl_gen/hw/epilogue.py)."""
    g = program.graph
    nodes = {g.node(n).op: g.node(n) for n in layer.nodes}
    lo, hi = _range(fixed_bits)
    f = {"rq_lo": lo, "rq_hi": hi, "add_lo": lo, "add_hi": hi, "rp_lo": lo, "rp_hi": hi}
    if "requant" in nodes:
        n = nodes["requant"]
        f.update(en_requant=1, shift=int(n.attrs["shift"]))
        f["rq_lo"], f["rq_hi"] = _range(n.type.bits)
    if "add" in nodes:
        n = nodes["add"]
        before = layer.nodes[: layer.nodes.index(n.name)]
        ci = next((i for i, x in enumerate(n.inputs) if x in before), 0)
        sh = [int(n.attrs["shift_a"]), int(n.attrs["shift_b"])]
        sa, sb = sh[ci], sh[1 - ci]
        f.update(en_add=1, a_left=max(sa, 0), a_right=max(-sa, 0), b_left=max(sb, 0),
                 b_right=max(-sb, 0))
        f["add_lo"], f["add_hi"] = _range(n.type.bits)
    if "rprelu" in nodes:
        n = nodes["rprelu"]
        f.update(en_rprelu=1, slope_frac=int(n.attrs["slope_frac"]))
        f["rp_lo"], f["rp_hi"] = _range(n.type.bits)
    return f


def param_table(program: Program, layer: Layer, fields: list[str], value_bits: int,
                levels: int) -> np.ndarray:
    """``[groups * PE, len(fields)]`` int64: the layer's per-channel parameters in the
    engine layout (channels beyond the layer's are 0; unused threshold levels never fire)."""
    from rtl_gen.compile.emit import hw_breakpoint, hw_thresholds

    g, cfg = program.graph, program.config
    o = layer_dims(program, layer)["O"]
    rows = -(-o // cfg.pe) * cfg.pe
    t = np.zeros((rows, len(fields)), np.int64)
    col = {f: i for i, f in enumerate(fields)}
    lim = 1 << (value_bits - 1)
    t[:, col["mult"]] = 1
    if layer.plan is not None:
        t[:o, col["init"]] = layer.plan.const
    thr = 0
    for name in layer.nodes:
        n = g.node(name)
        a = n.arrays
        if n.op == "requant":
            t[:o, col["mult"]] = a["multiplier"]
            t[:o, col["bias"]] = a["bias"]
        elif n.op == "rprelu":
            for k in ("bias1", "slope", "bias2"):
                t[:o, col[k]] = a[k]
        elif n.op == "threshold":
            pos, neg = hw_thresholds(n, value_bits)
            for i in range(levels):
                t[:o, col[f"pos{thr}_{i}"]] = pos[:, i] if i < pos.shape[1] else lim
            if f"bp{thr}" in col:
                for i in range(levels):
                    t[:o, col[f"neg{thr}_{i}"]] = (neg[:, i] if neg is not None
                                                   and i < neg.shape[1] else -lim - 1)
                t[:o, col[f"bp{thr}"]] = (hw_breakpoint(g, n) if neg is not None
                                          else -2 * lim)
            thr += 1
    return t
