"""Static checks of an integer IR graph against docs/IR.md.

``validate(graph)`` raises :class:`~n2uq_hw.errors.N2UQError` with one line
``node 'NAME' (OP): RULE: details`` (or ``graph: ...``) for the first rule broken. It runs
in ``save_ir`` (nothing is written on failure) and ``load_ir``. Rules, in checking order:

Graph
  - ``graph``: ``nodes`` is a non-empty list of Node, ``model`` a string, ``meta`` a
    JSON-serialisable dict; exactly one ``input`` node and it is ``graph.input``;
    ``graph.output`` names a node.
  - ``name``: every name a non-empty string, unique.
  - ``op``: one of ``input conv2d linear threshold requant add rprelu maxpool avgpool_sum``.

Every node
  - ``type``: ``kind`` in KINDS; ``signed`` a bool; ``bits`` in 1..64; ``shape`` ``[C]`` or
    ``[C, H, W]`` of positive ints; ``frac`` 0 except for ``fixed`` (0..63); ``scale`` None or
    a finite float > 0, required for ``code``; ``image`` is unsigned 8-bit ``[3, H, W]``,
    ``code`` unsigned, ``acc``/``fixed`` signed.
  - ``inputs``: the op's count (0 for input, 2 for add, else 1); each names a node that comes
    earlier in ``nodes``.
  - ``attrs``: exactly the op's required attributes plus optional ones (``acc_scale`` on
    conv2d/linear/avgpool_sum; ``source``, a free-form string, on every op); integers are
    Python ints (not bool), ``weight_format``/``source`` strings, ``acc_scale`` a list of one
    finite number per output channel.
  - ``arrays``: exactly the op's required arrays plus optional ones (``zero_point`` on
    conv2d/linear; ``neg`` + ``breakpoint`` together on threshold); each a numpy array.
  - ``dtype``: int8/int16/int32/int64 (``weight``, ``zero_point``); int64 only for
    threshold, requant and rprelu constants (docs/IR.md).
  - ``input kind``: conv2d/linear any; threshold/requant acc or fixed; add/rprelu fixed;
    maxpool/avgpool_sum code or fixed.

Per op (shapes compared with the input's and output's declared shapes)
  - ``attrs``: kernel >= 1, stride >= 1, padding >= 0 (maxpool: padding < kernel, so no window
    is all padding); shift 0..62; add shifts -62..62; slope_frac 0..62; weight_format "odd"
    (weight_bits 1..8) or "int8"/"int16"/"int24" (weight_bits 8/16/24); 0 <= acc_bound < 2^62.
  - ``shape``: conv2d weight ``[O, I, k, k]`` with I = input channels, zero_point ``[I]``,
    output ``[O, (H+2p-k)//s+1, (W+2p-k)//s+1]`` (both >= 1); linear input ``[I]`` or
    ``[I, 1, 1]``, weight ``[O, I]``, output ``[O]``; threshold ``pos``/``neg`` ``[C, 2^bits-1]``,
    ``breakpoint`` ``[C]``; requant/rprelu arrays ``[C]``; add inputs of equal shape; maxpool
    pooled shape; avgpool_sum ``[C]``; elementwise ops keep the input shape.
  - ``weight range``: "odd": odd integers in ``[-N, N]``, ``N = 2^b - 1``; "int8": ``[-128, 127]``; "int16": ``[-32768, 32767]``; "int24": ``[-2^23, 2^23 - 1]``.
  - ``acc_bound``: >= the exact worst-case ``|acc|`` over every input in the input's static
    range (below); the output is ``acc`` with ``bits = ceil(log2(acc_bound + 1)) + 1``.
  - ``thresholds``: ``pos`` rows non-decreasing within ``[min(v), max(v) + 1]``, ``neg`` rows
    non-increasing within ``[min(v) - 1, max(v)]``, ``breakpoint`` ``-2^62`` or within
    ``[min(v), max(v) + 1]`` (``min``/``max`` of the input type).
  - ``output type``: kind/signedness/bits/frac/shape implied by the op and its attributes
    (threshold: code of ``bits``; requant: fixed ``bits``/``frac``; add: fixed ``bits``/``frac``
    with ``frac == frac_a + shift_a == frac_b + shift_b``; rprelu: fixed ``bits``, the
    input's ``frac``; maxpool: the input's type; avgpool_sum: acc of
    ``in_bits + ceil(log2(H*W))`` bits, one more for an unsigned input).
  - ``int64 bound``: requant ``|multiplier[c]| * max|v_c| + |bias[c]| < 2^62``; add and rprelu
    intermediates ``< 2^62``.

Static range of a tensor (per channel): the type's range, except for an ``acc`` made by
conv2d/linear (exact min/max of the sum over the input's range, zero included where there is
padding) or avgpool_sum (``H*W`` times the input's range), and maxpool (its input's range).
This is the range the lowering may use for ``acc_bound``; it is sound because the executor
checks every node's output against its declared type.

Everything over weights is vectorised numpy (a ResNet-18-size graph takes well under a
second); only per-channel quantities use Python integers, so no check can overflow.
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple, NoReturn

import numpy as np

from n2uq_hw.errors import fail
from n2uq_hw.ir.graph import KINDS, Graph, Node, TensorType

__all__ = ["LIMIT", "NEVER_BREAK", "OPS", "validate"]

LIMIT = 2**62  # every intermediate of the integer semantics stays below this in magnitude
NEVER_BREAK = -(2**62)  # breakpoint of a monotone channel in a two-sided threshold node
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INT_FORMATS = ("int8", "int16", "int24")  # two's-complement weights of 8, 16 or 24 bits
_INT_DTYPES = tuple(np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
_MAX_ODD_BITS = 8
_ALL_KINDS = KINDS


class _Spec(NamedTuple):
    arity: int
    in_kinds: tuple[str, ...]
    attrs: tuple[str, ...]
    opt_attrs: tuple[str, ...]
    arrays: tuple[str, ...]
    opt_arrays: tuple[str, ...]
    int64_only: bool


OPS: dict[str, _Spec] = {
    "input": _Spec(0, (), (), (), (), (), False),
    "conv2d": _Spec(1, _ALL_KINDS,
                    ("kernel", "stride", "padding", "acc_bound", "weight_format", "weight_bits"),
                    ("acc_scale", "input_shift"), ("weight",), ("zero_point",), False),
    "linear": _Spec(1, _ALL_KINDS, ("acc_bound", "weight_format", "weight_bits"), ("acc_scale",),
                    ("weight",), ("zero_point",), False),
    "threshold": _Spec(1, ("acc", "fixed"), ("bits",), (), ("pos",), ("neg", "breakpoint"), True),
    "requant": _Spec(1, ("acc", "fixed"), ("shift", "bits", "frac"), (), ("multiplier", "bias"),
                     (), True),
    "add": _Spec(2, ("fixed",), ("shift_a", "shift_b", "bits", "frac"), (), (), (), True),
    "rprelu": _Spec(1, ("fixed",), ("slope_frac", "bits"), (), ("bias1", "slope", "bias2"), (),
                    True),
    "maxpool": _Spec(1, ("code", "fixed"), ("kernel", "stride", "padding"), (), (), (), True),
    "avgpool_sum": _Spec(1, ("code", "fixed"), (), ("acc_scale",), (), (), True),
}
_COMMON_OPT_ATTRS = ("source",)
_STR_ATTRS = ("weight_format", "source")

# per-channel static range: two object arrays of Python ints (lo, hi), length C
_Range = tuple[np.ndarray, np.ndarray]


# ----------------------------------------------------------------------------- helpers


def _err(node: Node, rule: str, detail: str) -> NoReturn:
    fail(f"node {node.name!r} ({node.op}): {rule}: {detail}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _shape(t: TensorType) -> tuple[int, ...]:
    return tuple(t.shape)


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def _clog2(n: int) -> int:
    """``ceil(log2(n))`` for an int ``n >= 1``, exactly."""
    return (n - 1).bit_length()


def _full(c: int, v: int) -> np.ndarray:
    a = np.empty(c, dtype=object)
    a[:] = v
    return a


def _type_range(t: TensorType) -> _Range:
    c = _shape(t)[0]
    return _full(c, t.min), _full(c, t.max)


def _obj(a: np.ndarray) -> np.ndarray:
    """Exact Python-int copy of an integer array (no int64 overflow in what follows)."""
    return a.astype(object)


def _absmax(r: _Range) -> np.ndarray:
    lo, hi = r
    return np.maximum(np.abs(lo), np.abs(hi))


def _expect_shape(node: Node, what: str, got: tuple[int, ...], want: tuple[int, ...],
                  why: str) -> None:
    if tuple(int(d) for d in got) != tuple(want):
        _err(node, "shape", f"{what} is {_fmt_shape(got)}, expected {_fmt_shape(want)} ({why})")


def _expect_type(node: Node, why: str, **want: Any) -> None:
    t = node.type
    for field, value in want.items():
        got = _shape(t) if field == "shape" else getattr(t, field)
        if field == "shape":
            if got != tuple(value):
                _err(node, "output type", f"shape is {_fmt_shape(got)}, expected "
                                          f"{_fmt_shape(value)} ({why})")
        elif got != value:
            _err(node, "output type", f"{field} is {got!r}, expected {value!r} ({why})")


def _int_attr(node: Node, key: str, lo: int | None = None, hi: int | None = None) -> int:
    v = node.attrs[key]
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = (f">= {lo}" if hi is None else
               f"in {lo}..{'2^62 - 1' if hi == LIMIT - 1 else hi}")
        _err(node, "attrs", f"{key} = {v} must be {rng}")
    return v


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


# ----------------------------------------------------------------------------- generic rules


def _check_type(node: Node) -> None:
    t = node.type
    if not isinstance(t, TensorType):
        _err(node, "type", f"is a {type(t).__name__}, not a TensorType")
    if t.kind not in KINDS:
        _err(node, "type", f"kind {t.kind!r} is not one of {', '.join(KINDS)}")
    if not isinstance(t.signed, bool):
        _err(node, "type", f"signed must be a bool, got {t.signed!r}")
    if not _is_int(t.bits) or not 1 <= t.bits <= 64:
        _err(node, "type", f"bits = {t.bits!r} must be an integer in 1..64")
    shape = t.shape
    if (not isinstance(shape, (tuple, list)) or len(shape) not in (1, 3)
            or not all(_is_int(d) and d >= 1 for d in shape)):
        _err(node, "type", f"shape {shape!r} must be [C] or [C, H, W] of positive integers")
    if not _is_int(t.frac):
        _err(node, "type", f"frac = {t.frac!r} must be an integer")
    if t.kind == "fixed":
        if not 0 <= t.frac <= 63:
            _err(node, "type", f"frac = {t.frac} of a fixed tensor must be in 0..63")
    elif t.frac != 0:
        _err(node, "type", f"frac = {t.frac} must be 0 for kind {t.kind} (only fixed has "
                           "fractional bits)")
    if t.scale is not None and (not isinstance(t.scale, (int, float)) or isinstance(t.scale, bool)
                                or not math.isfinite(t.scale) or t.scale <= 0):
        _err(node, "type", f"scale = {t.scale!r} must be null or a finite number > 0")
    if t.kind == "code" and t.scale is None:
        _err(node, "type", "a code tensor needs its scale (float value of one code step)")
    if t.kind == "image":
        if t.signed or t.bits != 8 or len(shape) != 3 or shape[0] != 3:
            _err(node, "type", f"an image is unsigned 8-bit [3, H, W], got "
                               f"{'signed' if t.signed else 'unsigned'} {t.bits}-bit "
                               f"{_fmt_shape(tuple(shape))}")
    elif t.kind == "code" and t.signed:
        _err(node, "type", "code tensors are unsigned")
    elif t.kind in ("acc", "fixed") and not t.signed:
        _err(node, "type", f"{t.kind} tensors are signed")


def _check_keys(node: Node, rule: str, what: str, d: object, required: tuple[str, ...],
                allowed: set[str]) -> None:
    """``d`` is a dict holding every ``required`` key and no key outside ``allowed``."""
    if not isinstance(d, dict):
        _err(node, rule, f"must be a dict, got {type(d).__name__}")
    for key in required:
        if key not in d:
            _err(node, rule, f"missing required {what} {key!r}")
    for key in d:
        if key not in allowed:
            _err(node, rule, f"unknown {what} {key!r} (allowed: "
                             f"{', '.join(sorted(allowed)) or 'none'})")


def _check_attrs(node: Node, spec: _Spec) -> None:
    attrs = node.attrs
    _check_keys(node, "attrs", "attribute", attrs, spec.attrs,
                set(spec.attrs) | set(spec.opt_attrs) | set(_COMMON_OPT_ATTRS))
    for key, v in attrs.items():
        if key in _STR_ATTRS:
            if not isinstance(v, str):
                _err(node, "attrs", f"{key} must be a string, got {v!r}")
        elif key == "acc_scale":
            c = _shape(node.type)[0]
            if (not isinstance(v, (list, tuple)) or len(v) != c or not all(
                    isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s)
                    for s in v)):
                _err(node, "attrs", f"acc_scale must be a list of {c} finite numbers (one per "
                                    "output channel)")
        elif not _is_int(v):
            _err(node, "attrs", f"{key} must be an integer, got {v!r}")


def _check_arrays(node: Node, spec: _Spec) -> None:
    arrays = node.arrays
    _check_keys(node, "arrays", "array", arrays, spec.arrays,
                set(spec.arrays) | set(spec.opt_arrays))
    for key, a in arrays.items():
        if not isinstance(a, np.ndarray):
            _err(node, "arrays", f"{key!r} is a {type(a).__name__}, not a numpy array")
        if spec.int64_only:
            if a.dtype != np.int64:
                _err(node, "dtype", f"array {key!r} is {a.dtype}, must be int64")
        elif a.dtype not in _INT_DTYPES:
            _err(node, "dtype", f"array {key!r} is {a.dtype}, must be int8, int16, int32 or "
                                "int64")


def _check_per_channel(node: Node, keys: tuple[str, ...], c: int) -> None:
    for key in keys:
        if key in node.arrays:
            _expect_shape(node, f"array {key!r}", node.arrays[key].shape, (c,),
                          "one per channel")


# ----------------------------------------------------------------------------- ops


def _op_input(node: Node, ins: list[Node], rs: list[_Range]) -> _Range:
    _expect_type(node, "the input node outputs image pixels", kind="image")
    return _type_range(node.type)


def _window(node: Node, x: TensorType, what: str, pool_pad_rule: bool) -> tuple[int, int, int]:
    """Kernel/stride/padding attributes and ``(H_out, W_out)`` checks; returns (k, s, p)."""
    k = _int_attr(node, "kernel", 1)
    s = _int_attr(node, "stride", 1)
    p = _int_attr(node, "padding", 0)
    if pool_pad_rule and p >= k:
        _err(node, "attrs", f"padding = {p} must be < kernel = {k} (a window entirely in the "
                            "padding has no value)")
    if len(_shape(x)) != 3:
        _err(node, "shape", f"{what} needs a [C, H, W] input, got {_fmt_shape(_shape(x))}")
    _, h, w = _shape(x)
    if h + 2 * p < k or w + 2 * p < k:
        _err(node, "shape", f"kernel {k} does not fit the padded input {h}x{w} (padding {p})")
    return k, s, p


def _out_hw(h: int, w: int, k: int, s: int, p: int) -> tuple[int, int]:
    return (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1


def _weight_limits(node: Node) -> tuple[str, int, int]:
    fmt, b = node.attrs["weight_format"], node.attrs["weight_bits"]
    if fmt in _INT_FORMATS:
        want = int(fmt[3:])
        if b != want:
            _err(node, "attrs", f"weight_bits = {b} must be {want} for weight_format {fmt!r}")
        return fmt, -(2 ** (want - 1)), 2 ** (want - 1) - 1
    if fmt == "odd":
        if not 1 <= b <= _MAX_ODD_BITS:
            _err(node, "attrs", f"weight_bits = {b} must be in 1..{_MAX_ODD_BITS} for "
                                "weight_format 'odd'")
        n = 2**b - 1
        return fmt, -n, n
    _err(node, "attrs", f"weight_format {fmt!r} must be 'odd', 'int8', 'int16' or 'int24'")


def _check_weight_values(node: Node, w: np.ndarray) -> None:
    fmt, lo, hi = _weight_limits(node)
    if w.size == 0:
        return
    if np.iinfo(w.dtype).min < lo or np.iinfo(w.dtype).max > hi:
        mn, mx = int(w.min()), int(w.max())
        if mn < lo or mx > hi:
            bad = _first((w < lo) | (w > hi))
            _err(node, "weight range", f"weight{list(bad)} = {int(w[bad])} is outside "
                                       f"[{lo}, {hi}] (weight_format {fmt!r}, "
                                       f"weight_bits {node.attrs['weight_bits']})")
    if fmt == "odd" and not np.bitwise_and(w, 1).all():
        bad = _first(np.bitwise_and(w, 1) == 0)
        _err(node, "weight range", f"weight{list(bad)} = {int(w[bad])} is even (weight_format "
                                   "'odd' holds odd integers only)")


def _acc_extent(w: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> _Range:
    """Exact per-output-channel min and max of ``sum_{i,j} w[o, i, j] * x_i`` for independent
    ``x_i in [lo_i, hi_i]`` (``w`` ``[O, I, K]``; ``lo``/``hi`` Python-int arrays ``[I]``)."""
    wpos = np.maximum(w, 0).sum(axis=2, dtype=np.int64)  # [O, I]
    wneg = np.minimum(w, 0).sum(axis=2, dtype=np.int64)
    o, i = wpos.shape
    if o == 0 or i == 0:
        return _full(o, 0), _full(o, 0)
    a = int(max(np.abs(lo).max(), np.abs(hi).max()))
    total = int((wpos - wneg).sum(axis=1).max())  # max_o sum |w|, small (|w| <= 255)
    if total == 0:
        return _full(o, 0), _full(o, 0)
    if a * total < LIMIT:  # every product and partial sum fits int64 exactly
        lo64, hi64 = lo.astype(np.int64), hi.astype(np.int64)
        mx = wpos @ hi64 + wneg @ lo64
        mn = wpos @ lo64 + wneg @ hi64
        return _obj(mn), _obj(mx)
    wp, wn = _obj(wpos), _obj(wneg)
    return wp.dot(lo) + wn.dot(hi), wp.dot(hi) + wn.dot(lo)


def _check_acc_bound(node: Node, w3: np.ndarray, xr: _Range, zp: np.ndarray | None,
                     pad: bool) -> _Range:
    bound = _int_attr(node, "acc_bound", 0, LIMIT - 1)
    lo, hi = xr
    if "input_shift" in node.attrs:  # x' = x * 2^input_shift - zero_point
        shift = _int_attr(node, "input_shift", 0, 16)
        lo, hi = _obj(lo) * 2**shift, _obj(hi) * 2**shift
    if zp is not None:
        lo, hi = lo - _obj(zp), hi - _obj(zp)
    if pad:  # padded positions contribute x' = 0
        lo, hi = np.minimum(lo, 0), np.maximum(hi, 0)
    mn, mx = _acc_extent(w3, lo, hi)
    if mn.size:
        worst = np.maximum(mx, -mn)
        o = int(np.argmax(worst))
        if worst[o] > bound:
            _err(node, "acc_bound", f"acc_bound = {bound} is below the worst case |acc| = "
                                    f"{worst[o]} of output channel {o} (weights times the "
                                    "input's range)")
    bits = bound.bit_length() + 1  # ceil(log2(acc_bound + 1)) + 1
    _expect_type(node, "acc with bits = ceil(log2(acc_bound + 1)) + 1", kind="acc", bits=bits)
    return mn, mx


def _op_conv2d(node: Node, ins: list[Node], rs: list[_Range]) -> _Range:
    x = ins[0].type
    k, s, p = _window(node, x, "conv2d", False)
    c, h, wd = _shape(x)
    w = node.arrays["weight"]
    if w.ndim != 4:
        _err(node, "shape", f"weight is {_fmt_shape(w.shape)}, expected [O, I, k, k]")
    _expect_shape(node, "weight", w.shape, (w.shape[0], c, k, k),
                  f"[O, I, k, k] with I = {c} input channels and k = {k}")
    oh, ow = _out_hw(h, wd, k, s, p)
    _expect_type(node, f"[O, H_out, W_out] with O = weight.shape[0], H_out = (H + 2p - k)//s + 1 "
                       f"for input {_fmt_shape(_shape(x))}, k {k}, s {s}, p {p}",
                 shape=(w.shape[0], oh, ow))
    _check_per_channel(node, ("zero_point",), c)
    _check_weight_values(node, w)
    w3 = w.reshape(w.shape[0], c, k * k)
    return _check_acc_bound(node, w3, rs[0], node.arrays.get("zero_point"), p > 0)


def _op_linear(node: Node, ins: list[Node], rs: list[_Range]) -> _Range:
    xs = _shape(ins[0].type)
    if not (len(xs) == 1 or (len(xs) == 3 and xs[1:] == (1, 1))):
        _err(node, "shape", f"linear needs an [I] or [I, 1, 1] input, got {_fmt_shape(xs)}")
    c = xs[0]
    w = node.arrays["weight"]
    if w.ndim != 2:
        _err(node, "shape", f"weight is {_fmt_shape(w.shape)}, expected [O, I]")
    _expect_shape(node, "weight", w.shape, (w.shape[0], c), f"[O, I] with I = {c} inputs")
    _expect_type(node, "[O] with O = weight.shape[0]", shape=(w.shape[0],))
    _check_per_channel(node, ("zero_point",), c)
    _check_weight_values(node, w)
    return _check_acc_bound(node, w[:, :, None], rs[0], node.arrays.get("zero_point"), False)


def _check_rows(node: Node, key: str, a: np.ndarray, increasing: bool, lo: int, hi: int) -> None:
    if a.shape[1] > 1:
        bad = a[:, 1:] < a[:, :-1] if increasing else a[:, 1:] > a[:, :-1]
        if bad.any():
            c, i = _first(bad)
            order = "non-decreasing" if increasing else "non-increasing"
            _err(node, "thresholds", f"{key} row {c} is not {order}: {key}[{c}, {i}] = "
                                     f"{int(a[c, i])}, {key}[{c}, {i + 1}] = {int(a[c, i + 1])}")
    if a.size:
        mn, mx = int(a.min()), int(a.max())
        if mn < lo or mx > hi:
            idx = _first((a < max(lo, _INT64_MIN)) | (a > min(hi, _INT64_MAX)))
            _err(node, "thresholds", f"{key}{list(idx)} = {int(a[idx])} is outside [{lo}, {hi}] "
                                     "(the input type's range, clipped as docs/IR.md says)")


def _op_threshold(node: Node, ins: list[Node], rs: list[_Range]) -> _Range:
    v = ins[0].type
    b = _int_attr(node, "bits", 1, 64)
    _expect_type(node, f"code of attrs.bits = {b} bits", kind="code", bits=b, shape=_shape(v))
    c, n = _shape(v)[0], 2**b - 1
    arrays = node.arrays
    if ("neg" in arrays) != ("breakpoint" in arrays):
        _err(node, "arrays", "'neg' and 'breakpoint' come together (two-sided form) or not at "
                             "all")
    for key in ("pos", "neg"):
        if key in arrays:
            _expect_shape(node, f"array {key!r}", arrays[key].shape, (c, n),
                          f"[C, N] with C = {c} input channels, N = 2^{b} - 1")
    _check_per_channel(node, ("breakpoint",), c)
    _check_rows(node, "pos", arrays["pos"], True, v.min, v.max + 1)
    if "neg" in arrays:
        _check_rows(node, "neg", arrays["neg"], False, v.min - 1, v.max)
        bp = arrays["breakpoint"]
        bad = (bp != NEVER_BREAK) & ((bp < max(v.min, _INT64_MIN)) | (bp > min(v.max + 1,
                                                                               _INT64_MAX)))
        if bad.any():
            i = _first(bad)[0]
            _err(node, "thresholds", f"breakpoint[{i}] = {int(bp[i])} is neither -2^62 (monotone "
                                     f"channel) nor in [{v.min}, {v.max + 1}]")
    return _type_range(node.type)


def _op_requant(node: Node, ins: list[Node], rs: list[_Range]) -> _Range:
    v = ins[0].type
    shift = _int_attr(node, "shift", 0, 62)
    bits = _int_attr(node, "bits", 1, 64)
    frac = _int_attr(node, "frac", 0, 63)
    _expect_type(node, "fixed of attrs.bits/frac, the input's shape", kind="fixed", bits=bits,
                 frac=frac, shape=_shape(v))
    c = _shape(v)[0]
    _check_per_channel(node, ("multiplier", "bias"), c)
    m, b = _obj(node.arrays["multiplier"]), _obj(node.arrays["bias"])
    peak = np.abs(m) * _absmax(rs[0]) + np.abs(b)
    if peak.size:
        i = int(np.argmax(peak))
        if peak[i] >= LIMIT:
            _err(node, "int64 bound", f"|multiplier[{i}]| * max|v| + |bias[{i}]| = {peak[i]} "
                                      f">= 2^62 (shift {shift})")
    return _type_range(node.type)


def _op_add(node: Node, ins: list[Node], rs: list[_Range]) -> _Range:
    a, b = ins[0].type, ins[1].type
    if _shape(a) != _shape(b):
        _err(node, "shape", f"inputs have different shapes {_fmt_shape(_shape(a))} and "
                            f"{_fmt_shape(_shape(b))}")
    sa = _int_attr(node, "shift_a", -62, 62)
    sb = _int_attr(node, "shift_b", -62, 62)
    bits = _int_attr(node, "bits", 1, 64)
    frac = _int_attr(node, "frac", 0, 63)
    _expect_type(node, "fixed of attrs.bits/frac, the inputs' shape", kind="fixed", bits=bits,
                 frac=frac, shape=_shape(a))
    for side, t, s in (("a", a, sa), ("b", b, sb)):
        if t.frac + s != frac:
            _err(node, "frac", f"input {side} ({ins[0 if side == 'a' else 1].name!r}) has frac "
                               f"{t.frac}, aligned by shift_{side} = {s} gives {t.frac + s}, "
                               f"not the output frac {frac}")
    peaks = []
    for side, r, s in (("a", rs[0], sa), ("b", rs[1], sb)):
        m = int(_absmax(r).max())
        inter = m << s if s >= 0 else m + 2 ** (-s - 1)
        if inter >= LIMIT:
            _err(node, "int64 bound", f"aligning input {side} (max |{side}| = {m}, shift {s}) "
                                      "reaches 2^62")
        peaks.append(inter if s >= 0 else (inter >> -s) + 1)
    if sum(peaks) >= LIMIT:
        _err(node, "int64 bound", f"the aligned sum can reach {sum(peaks)} >= 2^62")
    return _type_range(node.type)


def _op_rprelu(node: Node, ins: list[Node], rs: list[_Range]) -> _Range:
    x = ins[0].type
    sa = _int_attr(node, "slope_frac", 0, 62)
    bits = _int_attr(node, "bits", 1, 64)
    _expect_type(node, "fixed of attrs.bits with the input's frac and shape", kind="fixed",
                 bits=bits, frac=x.frac, shape=_shape(x))
    c = _shape(x)[0]
    _check_per_channel(node, ("bias1", "slope", "bias2"), c)
    b1, sl, b2 = (_obj(node.arrays[k]) for k in ("bias1", "slope", "bias2"))
    z = _absmax(rs[0]) + np.abs(b1)
    prod = z * np.abs(sl) + (2**sa >> 1)
    r = np.maximum(z, prod // 2**sa + 1)
    for what, val in (("|x + bias1| * |slope| + 2^(slope_frac-1)", prod),
                      ("|prelu(x + bias1)| + |bias2|", r + np.abs(b2))):
        if val.size:
            i = int(np.argmax(val))
            if val[i] >= LIMIT:
                _err(node, "int64 bound", f"{what} = {val[i]} >= 2^62 in channel {i}")
    return _type_range(node.type)


def _op_maxpool(node: Node, ins: list[Node], rs: list[_Range]) -> _Range:
    x = ins[0].type
    k, s, p = _window(node, x, "maxpool", True)
    c, h, w = _shape(x)
    oh, ow = _out_hw(h, w, k, s, p)
    _expect_type(node, f"the input's type with the pooled shape (k {k}, s {s}, p {p})",
                 kind=x.kind, signed=x.signed, bits=x.bits, frac=x.frac, scale=x.scale,
                 shape=(c, oh, ow))
    return rs[0]


def _op_avgpool_sum(node: Node, ins: list[Node], rs: list[_Range]) -> _Range:
    x = ins[0].type
    if len(_shape(x)) != 3:
        _err(node, "shape", f"avgpool_sum needs a [C, H, W] input, got {_fmt_shape(_shape(x))}")
    c, h, w = _shape(x)
    bits = x.bits + _clog2(h * w) + (0 if x.signed else 1)
    why = "acc [C] of input bits + ceil(log2(H*W))" + ("" if x.signed else " + 1 (unsigned input)")
    _expect_type(node, why, kind="acc", bits=bits, shape=(c,))
    lo, hi = rs[0]
    return lo * (h * w), hi * (h * w)


_CHECKS = {
    "input": _op_input, "conv2d": _op_conv2d, "linear": _op_linear, "threshold": _op_threshold,
    "requant": _op_requant, "add": _op_add, "rprelu": _op_rprelu, "maxpool": _op_maxpool,
    "avgpool_sum": _op_avgpool_sum,
}


# ----------------------------------------------------------------------------- graph


def validate(graph: Graph) -> None:
    """Check ``graph`` against every static rule of docs/IR.md; raise N2UQError (one line)."""
    if not isinstance(graph, Graph):
        fail(f"graph: expected a Graph, got {type(graph).__name__}")
    if not isinstance(graph.model, str):
        fail(f"graph: model must be a string, got {graph.model!r}")
    if not isinstance(graph.nodes, list) or not graph.nodes:
        fail("graph: nodes must be a non-empty list")
    if not isinstance(graph.input, str) or not isinstance(graph.output, str):
        fail("graph: input and output must be node names (strings)")
    if not isinstance(graph.meta, dict):
        fail(f"graph: meta must be a dict, got {type(graph.meta).__name__}")
    try:
        json.dumps(graph.meta)
    except (TypeError, ValueError) as exc:
        fail(f"graph: meta is not JSON-serialisable ({exc})")
    later = {n.name for n in graph.nodes if isinstance(n, Node) and isinstance(n.name, str)}
    if not any(isinstance(n, Node) and n.op == "input" and n.name == graph.input
               for n in graph.nodes):
        fail(f"graph: input {graph.input!r} is not an input node")
    seen: dict[str, Node] = {}
    ranges: dict[str, _Range] = {}
    for idx, node in enumerate(graph.nodes):
        if not isinstance(node, Node):
            fail(f"graph: nodes[{idx}] is a {type(node).__name__}, not a Node")
        if not isinstance(node.name, str) or not node.name:
            fail(f"graph: nodes[{idx}] ({node.op}): name: {node.name!r} must be a non-empty "
                 "string")
        if node.name in seen:
            _err(node, "name", f"duplicate node name (also nodes[{list(seen).index(node.name)}])")
        spec = OPS.get(node.op) if isinstance(node.op, str) else None
        if spec is None:
            _err(node, "op", f"unknown op; known: {', '.join(OPS)}")
        _check_type(node)
        if not isinstance(node.inputs, list) or not all(isinstance(i, str) for i in node.inputs):
            _err(node, "inputs", f"must be a list of node names, got {node.inputs!r}")
        if len(node.inputs) != spec.arity:
            _err(node, "inputs", f"{node.op} takes {spec.arity} input(s), got "
                                 f"{len(node.inputs)}")
        for name in node.inputs:
            if name not in seen:
                where = ("comes later in nodes (execution order)" if name in later
                         else "is not a node")
                _err(node, "inputs", f"input {name!r} {where}")
        _check_attrs(node, spec)
        _check_arrays(node, spec)
        ins = [seen[name] for name in node.inputs]
        for src in ins:
            if src.type.kind not in spec.in_kinds:
                _err(node, "input kind", f"input {src.name!r} is {src.type.kind}, {node.op} "
                                         f"takes {' or '.join(spec.in_kinds)}")
        if node.op == "input" and node.name != graph.input:
            _err(node, "graph", f"a second input node (graph.input is {graph.input!r}); a graph "
                                "has exactly one")
        ranges[node.name] = _CHECKS[node.op](node, ins, [ranges[n] for n in node.inputs])
        seen[node.name] = node
    if graph.output not in seen:
        fail(f"graph: output {graph.output!r} is not a node")
