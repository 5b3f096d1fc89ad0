"""Golden model: executes an integer IR (docs/IR.md) bit for bit with int64 torch tensors on CPU.

``run_ir(graph, images)`` runs every node in order with a leading batch dimension and returns
int64 tensors ``[B, *shape]``; ``float_view`` gives the real interpretation of any of them.
Everything is integer arithmetic except one place, the convolution, and there only when it is
provably exact:

- **conv2d**: PyTorch has no int64 convolution on CPU. The executor bounds every partial sum
  of the accumulation from the *actual* data, ``max_o sum_i (sum_{ky,kx} |w[o,i,ky,kx]|) *
  max|x'[i]|`` (independent of the order in which the sum is formed, and of ``acc_bound``,
  which is only checked through the output range). If that bound is below 2^52 it convolves
  in float64: every product and every partial sum is then an integer below 2^53, so each is
  represented exactly and no rounding ever happens, whatever the blocking, FMA use or
  summation order of the im2col + GEMM kernel (float64 convolution on CPU never uses
  Winograd/FFT; NNPACK and oneDNN are float32-only). Otherwise, up to 2^62, it falls back to
  an explicit im2col (``Tensor.unfold``) and an int64 matmul, in chunks of output rows. Beyond
  2^62 it refuses (int64 could overflow). The 2^52 limit leaves a factor 2 of margin for the
  float64 computation of the bound itself.
- **linear**: int64 matmul (small), with the same overflow bound.
- **threshold**: ``torch.searchsorted`` per channel (``right=True`` counts ``pos <= v``, so
  ties ``v == pos`` count), used when each row is monotone as the IR requires; otherwise a
  literal count of comparisons, one pass per threshold.
- **requant/add/rprelu**: int64 arithmetic; ``>>`` on int64 is an arithmetic shift, i.e.
  floor division by 2^s. Every product is bounded per channel from the data before it is
  formed and the executor refuses (names the node) if it could leave int64.
- **maxpool**: pads with the int64 minimum, which never wins against a real value.

After every node the output's shape and value range are checked against the node's declared
type; a violation is a bug in whatever produced the IR and raises :class:`IRExecutionError`
naming the node, the values found and the declared range. Static rules (array shapes, dtypes,
monotone thresholds, ...) are the validator's job (``n2uq_hw.ir.validate``); the executor only
checks what it needs to compute correctly, and accepts any declared type on the input node
(unit tests feed ``fixed`` or ``acc`` values directly).

The result is deterministic: integer ops are, and the float64 convolution is exact.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from n2uq_hw.errors import N2UQError
from n2uq_hw.ir.graph import Graph, Node

__all__ = ["IRExecutionError", "float_view", "floor_shift", "round_shift", "run_ir", "sat"]

INT64_MIN = -(2**63)
F64_EXACT_LIMIT = 2**52  # partial sums below this bound: float64 convolution is exact
INT64_SAFE_LIMIT = 2**62  # intermediate values below this bound: int64 cannot overflow
_CHUNK_ELEMENTS = 1 << 24  # int64 im2col fallback: at most this many elements per chunk


class IRExecutionError(N2UQError):
    """An IR that cannot be executed as declared (range violated, missing input, overflow)."""


# ----------------------------------------------------------------------------- conventions


def floor_shift(a: torch.Tensor, s: int) -> torch.Tensor:
    """``floor_div(a, 2^s)`` of int64 ``a`` (arithmetic right shift), ``s >= 0``."""
    if s < 0:
        raise ValueError(f"shift must be >= 0, got {s}")
    if s == 0:
        return a
    if s >= 63:
        return torch.where(a < 0, -1, 0).to(torch.int64)
    return a >> s


def round_shift(a: torch.Tensor, s: int) -> torch.Tensor:
    """``floor_div(a + 2^(s-1), 2^s)`` (round half up) for ``s > 0``, ``a`` for ``s = 0``."""
    if s == 0:
        return a
    return floor_shift(a + (1 << (s - 1)), s)


def sat(a: torch.Tensor, bits: int) -> torch.Tensor:
    """Clamp to the signed range of ``bits`` bits."""
    return a.clamp(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


# ----------------------------------------------------------------------------- helpers


def _err(node: Node, msg: str) -> IRExecutionError:
    return IRExecutionError(f"node {node.name!r} ({node.op}): {msg}")


def _attr(node: Node, key: str) -> int:
    if key not in node.attrs:
        raise _err(node, f"missing attribute {key!r}")
    return int(node.attrs[key])


def _array(node: Node, key: str, *, optional: bool = False) -> torch.Tensor | None:
    arr = node.arrays.get(key)
    if arr is None:
        if optional:
            return None
        raise _err(node, f"missing array {key!r}")
    return torch.from_numpy(np.ascontiguousarray(arr).astype(np.int64, copy=False))


def _per_channel(node: Node, arr: torch.Tensor, like: torch.Tensor, key: str) -> torch.Tensor:
    """A ``[C]`` array shaped to broadcast against ``like`` = ``[B, C, ...]``."""
    c = like.shape[1]
    if arr.shape != (c,):
        raise _err(node, f"array {key!r} has shape {tuple(arr.shape)}, expected ({c},)")
    return arr.view(1, c, *([1] * (like.dim() - 2)))


def _chan_absmax(v: torch.Tensor) -> torch.Tensor:
    """Per channel (dim 1) ``max |v|`` as an int64 tensor ``[C]``."""
    dims = [0, *range(2, v.dim())]
    mn, mx = v.amin(dims), v.amax(dims)
    # |INT64_MIN| does not fit int64: saturate it (only the comparison with 2^62 matters)
    return torch.maximum(mx, -(mn.clamp_min(INT64_MIN + 1)))


def _absmax(v: torch.Tensor) -> int:
    mn, mx = torch.aminmax(v)
    return max(-int(mn), int(mx))


def _guard(node: Node, what: str, bound: float) -> None:
    if bound >= INT64_SAFE_LIMIT:
        raise _err(node, f"{what} can reach {float(bound):.4g} >= 2^62; int64 arithmetic would "
                         "not be exact (IR bounds are violated)")


def _same_rank_chw(node: Node, x: torch.Tensor) -> None:
    if x.dim() != 4:
        raise _err(node, f"needs a [C, H, W] input, got per-sample shape {tuple(x.shape[1:])}")


# ----------------------------------------------------------------------------- ops


def _conv2d(node: Node, x: torch.Tensor) -> torch.Tensor:
    _same_rank_chw(node, x)
    k, s, p = _attr(node, "kernel"), _attr(node, "stride"), _attr(node, "padding")
    w = _array(node, "weight")
    o, i = w.shape[0], x.shape[1]
    if w.shape != (o, i, k, k):
        raise _err(node, f"weight shape {tuple(w.shape)} does not match [O, {i}, {k}, {k}]")
    zp = _array(node, "zero_point", optional=True)
    x = x * 2 ** int(node.attrs.get("input_shift", 0))
    xp = x - _per_channel(node, zp, x, "zero_point") if zp is not None else x
    # bound on |every partial sum| = max_o sum_i |w[o, i]|_1 * max |x'[i]|  (padding: x' = 0)
    wabs = w.abs().sum((2, 3)).to(torch.float64)
    bound = float((wabs @ _chan_absmax(xp).to(torch.float64)).max()) if o and i else 0.0
    if bound < F64_EXACT_LIMIT:
        acc = F.conv2d(xp.to(torch.float64), w.to(torch.float64), stride=s, padding=p)
        return acc.to(torch.int64)
    _guard(node, "the accumulator", bound)
    return _conv2d_int64(xp, w, k, s, p)


def _conv2d_int64(xp: torch.Tensor, w: torch.Tensor, k: int, s: int, p: int) -> torch.Tensor:
    """Exact int64 convolution: explicit im2col via ``Tensor.unfold`` and int64 matmuls."""
    b, i, h, wd = xp.shape
    o = w.shape[0]
    xpad = F.pad(xp, (p, p, p, p)) if p else xp
    oh, ow = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
    wm = w.reshape(o, i * k * k).t()
    out = torch.empty(b, o, oh, ow, dtype=torch.int64)
    rows = max(1, _CHUNK_ELEMENTS // max(1, b * ow * i * k * k))
    for y0 in range(0, oh, rows):
        y1 = min(oh, y0 + rows)
        band = xpad[:, :, y0 * s: (y1 - 1) * s + k]
        cols = band.unfold(2, k, s).unfold(3, k, s)  # [B, I, rows, OW, k, k]
        cols = cols.permute(0, 2, 3, 1, 4, 5).reshape(-1, i * k * k)
        out[:, :, y0:y1] = (cols @ wm).view(b, y1 - y0, ow, o).permute(0, 3, 1, 2)
    return out


def _linear(node: Node, x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 4 and x.shape[2:] == (1, 1):
        x = x.reshape(x.shape[0], x.shape[1])
    if x.dim() != 2:
        raise _err(node, f"needs an [I] or [C, 1, 1] input, got {tuple(x.shape[1:])}")
    w = _array(node, "weight")
    if w.dim() != 2 or w.shape[1] != x.shape[1]:
        raise _err(node, f"weight shape {tuple(w.shape)} does not match [O, {x.shape[1]}]")
    zp = _array(node, "zero_point", optional=True)
    xp = x - _per_channel(node, zp, x, "zero_point") if zp is not None else x
    wabs = w.abs().to(torch.float64)
    bound = float((wabs @ _chan_absmax(xp).to(torch.float64)).max()) if w.numel() else 0.0
    _guard(node, "the accumulator", bound)
    return xp @ w.t()


def _threshold(node: Node, v: torch.Tensor) -> torch.Tensor:
    c = v.shape[1]
    pos = _array(node, "pos")
    if pos.dim() != 2 or pos.shape[0] != c:
        raise _err(node, f"array 'pos' has shape {tuple(pos.shape)}, expected [{c}, N]")
    neg = _array(node, "neg", optional=True)
    flat = v.transpose(0, 1).reshape(c, -1).contiguous()  # [C, B*rest]
    code = _count_ge(pos, flat)
    if neg is not None:
        bp = _array(node, "breakpoint")
        if neg.shape != pos.shape or bp.shape != (c,):
            raise _err(node, f"arrays 'neg' {tuple(neg.shape)} / 'breakpoint' "
                             f"{tuple(bp.shape)} do not match 'pos' {tuple(pos.shape)}")
        code = torch.where(flat >= bp.view(c, 1), code, _count_le(neg, flat))
    rest = (v.shape[0], *v.shape[2:])
    return code.view(c, *rest).transpose(0, 1).contiguous()


def _count_ge(pos: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
    """``#{i : v >= pos[c, i]}`` for every ``v`` in row c of ``flat``."""
    if pos.shape[1] and bool((pos[:, 1:] >= pos[:, :-1]).all()):
        # right=True: index of the first threshold > v = number of thresholds <= v
        return torch.searchsorted(pos, flat, right=True)
    code = torch.zeros_like(flat)
    for j in range(pos.shape[1]):
        code += flat >= pos[:, j: j + 1]
    return code


def _count_le(neg: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
    """``#{i : v <= neg[c, i]}`` (rows of ``neg`` non-increasing)."""
    if (neg.shape[1] and bool((neg[:, 1:] <= neg[:, :-1]).all())
            and int(neg.min()) > INT64_MIN and int(flat.min()) > INT64_MIN):
        # v <= neg  <=>  -v >= -neg, and -neg is non-decreasing
        return torch.searchsorted(-neg, -flat, right=True)
    code = torch.zeros_like(flat)
    for j in range(neg.shape[1]):
        code += flat <= neg[:, j: j + 1]
    return code


def _requant(node: Node, v: torch.Tensor) -> torch.Tensor:
    shift, bits = _attr(node, "shift"), _attr(node, "bits")
    if shift < 0:
        raise _err(node, f"shift must be >= 0, got {shift}")
    m = _array(node, "multiplier")
    b = _array(node, "bias")
    mc, bc = _per_channel(node, m, v, "multiplier"), _per_channel(node, b, v, "bias")
    bound = (_chan_absmax(v).to(torch.float64) * m.abs().to(torch.float64)
             + b.abs().to(torch.float64)).max()
    _guard(node, "v * multiplier + bias", float(bound))
    return sat(floor_shift(v * mc + bc, shift), bits)


def _align(node: Node, v: torch.Tensor, s: int, name: str) -> torch.Tensor:
    if s >= 0:
        _guard(node, f"{name} << {s}", _absmax(v) * 2**s)
        return v << s if s < 63 else torch.zeros_like(v)
    _guard(node, f"{name} + 2^{-s - 1}", _absmax(v) + 2 ** (-s - 1))
    return round_shift(v, -s)


def _add(node: Node, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if a.shape != b.shape:
        raise _err(node, f"input shapes differ: {tuple(a.shape[1:])} vs {tuple(b.shape[1:])}")
    ya = _align(node, a, _attr(node, "shift_a"), "a")
    yb = _align(node, b, _attr(node, "shift_b"), "b")
    return sat(ya + yb, _attr(node, "bits"))


def _rprelu(node: Node, x: torch.Tensor) -> torch.Tensor:
    sa, bits = _attr(node, "slope_frac"), _attr(node, "bits")
    if sa < 0:
        raise _err(node, f"slope_frac must be >= 0, got {sa}")
    b1, slope, b2 = (_array(node, k) for k in ("bias1", "slope", "bias2"))
    zmax = _chan_absmax(x).to(torch.float64) + b1.abs().to(torch.float64)  # |z| per channel
    _guard(node, "z * slope", float((zmax * slope.abs().to(torch.float64)).max()) + 2.0**sa)
    _guard(node, "z + bias2", float((zmax + b2.abs().to(torch.float64)).max()))
    z = x + _per_channel(node, b1, x, "bias1")
    neg = round_shift(z * _per_channel(node, slope, x, "slope"), sa)
    z = torch.where(z >= 0, z, neg)
    return sat(z + _per_channel(node, b2, x, "bias2"), bits)


def _maxpool(node: Node, x: torch.Tensor) -> torch.Tensor:
    _same_rank_chw(node, x)
    k, s, p = _attr(node, "kernel"), _attr(node, "stride"), _attr(node, "padding")
    xpad = F.pad(x, (p, p, p, p), value=INT64_MIN) if p else x
    y = xpad.unfold(2, k, s).unfold(3, k, s).amax((-1, -2))
    if p and bool((y == INT64_MIN).any()) and not bool((x == INT64_MIN).any()):
        raise _err(node, "a pooling window lies entirely in the padding")
    return y


def _avgpool_sum(node: Node, x: torch.Tensor) -> torch.Tensor:
    _same_rank_chw(node, x)
    _guard(node, "the sum", _absmax(x) * x.shape[2] * x.shape[3])
    return x.sum((2, 3))


_OPS: dict[str, Callable[..., torch.Tensor]] = {
    "conv2d": _conv2d, "linear": _linear, "threshold": _threshold, "requant": _requant,
    "add": _add, "rprelu": _rprelu, "maxpool": _maxpool, "avgpool_sum": _avgpool_sum,
}
_ARITY = {"add": 2}


# ----------------------------------------------------------------------------- executor


def _check_output(node: Node, y: torch.Tensor) -> None:
    """The declared per-sample shape and integer range of ``node.type`` hold for ``y``."""
    t = node.type
    if tuple(y.shape[1:]) != tuple(t.shape):
        raise _err(node, f"output shape {list(y.shape[1:])} differs from the declared "
                         f"{list(t.shape)}")
    if y.numel() == 0:
        return
    mn, mx = (int(v) for v in torch.aminmax(y))
    if mn < t.min or mx > t.max:
        sign = "signed" if t.signed else "unsigned"
        raise _err(node, f"output values span [{mn}, {mx}], outside the declared {t.kind} "
                         f"type ({sign} {t.bits} bits: [{t.min}, {t.max}])")


@contextlib.contextmanager
def _num_threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def run_ir(graph: Graph, images: torch.Tensor, *, keep: bool = True,
           threads: int | None = None) -> dict[str, torch.Tensor]:
    """Execute ``graph`` on a batch ``images`` ``[B, *input shape]`` (uint8 or integer).

    Returns ``{node name: int64 tensor [B, *node shape]}`` for every node when ``keep``;
    otherwise only ``{graph.output: ...}``, freeing every intermediate once its last user has
    run. ``threads`` sets torch's intra-op thread count for this call only (default: leave
    torch's setting, normally one thread per core).
    """
    if not isinstance(images, torch.Tensor):
        raise IRExecutionError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dtype.is_floating_point or images.dtype.is_complex or images.dtype == torch.bool:
        raise IRExecutionError(f"images must be an integer tensor (uint8 pixels), got "
                               f"{images.dtype}")
    if images.dim() == 0 or images.shape[0] < 1:
        raise IRExecutionError("images needs a leading batch dimension of at least 1")
    last_use: dict[str, int] = {}
    for idx, node in enumerate(graph.nodes):
        last_use[node.name] = idx
        for name in node.inputs:
            last_use[name] = idx
    env: dict[str, torch.Tensor] = {}
    with _num_threads(threads), torch.no_grad():
        for idx, node in enumerate(graph.nodes):
            if node.op == "input":
                if node.name != graph.input:
                    raise _err(node, f"is an input node but the graph's input is "
                                     f"{graph.input!r}")
                y = images.detach().to("cpu", torch.int64)
            else:
                fn = _OPS.get(node.op)
                if fn is None:
                    raise _err(node, "unknown op")
                arity = _ARITY.get(node.op, 1)
                if len(node.inputs) != arity:
                    raise _err(node, f"takes {arity} input(s), got {len(node.inputs)}")
                missing = [n for n in node.inputs if n not in env]
                if missing:
                    raise _err(node, f"input {missing[0]!r} has not been computed before it "
                                     "(nodes must be in execution order)")
                y = fn(node, *(env[n] for n in node.inputs))
            _check_output(node, y)
            env[node.name] = y
            if not keep:
                for name in {*node.inputs, node.name}:
                    if last_use[name] == idx and name != graph.output:
                        env.pop(name, None)
    if graph.output not in env:
        raise IRExecutionError(f"output node {graph.output!r} is not in the graph")
    return env if keep else {graph.output: env[graph.output]}


# ----------------------------------------------------------------------------- float view


def float_view(graph: Graph, name: str, value: torch.Tensor) -> torch.Tensor:
    """Real value (float64) of node ``name``'s integer output ``value`` (docs/IR.md, Float view).

    ``value`` is ``[B, *shape]`` (as returned by :func:`run_ir`) or one sample ``[*shape]``.
    ``code`` -> ``k * scale``; ``fixed`` -> ``v * 2^-frac``; ``acc`` -> ``acc * acc_scale[c]``
    (the node's ``attrs.acc_scale``); ``image`` -> ``v``.
    """
    node = graph.node(name)
    t = node.type
    v = value.to(torch.float64)
    if v.dim() not in (len(t.shape), len(t.shape) + 1):
        raise _err(node, f"value of shape {tuple(value.shape)} does not match the declared "
                         f"{list(t.shape)} (with or without a batch dimension)")
    if t.kind == "image":
        return v
    if t.kind == "code":
        if t.scale is None:
            raise _err(node, "code type without a scale has no float view")
        return v * float(t.scale)
    if t.kind == "fixed":
        return torch.ldexp(v, torch.tensor(-t.frac, dtype=torch.float64))
    if t.kind == "acc":
        scale = node.attrs.get("acc_scale")
        if scale is None:
            raise _err(node, "acc output without attrs.acc_scale has no float view")
        sc = torch.as_tensor(scale, dtype=torch.float64).reshape(-1)
        c = t.shape[0]
        if sc.numel() != c:
            raise _err(node, f"attrs.acc_scale has {sc.numel()} entries for {c} channels")
        axis = v.dim() - len(t.shape)  # 1 with a batch dimension, 0 without
        return v * sc.view(*([1] * axis), c, *([1] * (len(t.shape) - 1)))
    raise _err(node, f"unknown kind {t.kind!r}")


def run_node(node: Node, *inputs: torch.Tensor) -> torch.Tensor:
    """Execute one node on integer inputs (batch first), without the output range check.

    Used to check nodes in isolation, fed with values that did not come from the graph.
    """
    return _OPS[node.op](node, *inputs)
