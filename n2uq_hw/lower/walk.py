"""Walks an N2UQ model (ResNet or small CNN) and emits its integer IR.

The walk calls the float model's own modules on the calibration images as it goes, so each
emitted tensor carries the float value it stands for (``Value.ref``): fixed-point formats
come from those values, and so does the integer-vs-float comparison afterwards.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from models.blocks import _Block
from models.resnet import ResNet
from models.small_cnn import SmallCNN
from models.units import QConvUnit
from n2uq_hw.errors import fail
from n2uq_hw.lower.builder import Builder, Value, bn_affine, conv_weight_codes
from n2uq_hw.lower.fold import int8_per_channel, int_per_channel
from n2uq_hw.quant import N2UQActQuant, N2UQWeightQuant


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


class Walker:
    """Emits nodes for one model through a :class:`Builder`."""

    def __init__(self, builder: Builder, fracs: dict[str, int] | None = None) -> None:
        self.b = builder
        self.fracs = fracs or {}

    def frac(self, name: str, *refs: torch.Tensor) -> int:
        return self.fracs[name] if name in self.fracs else self.b.frac_for(*refs)

    # ---- pieces -----------------------------------------------------------------------
    def stem(self, name: str, seq: nn.Sequential, image: Value, mean: np.ndarray,
             std: np.ndarray) -> Value:
        """8-bit first conv with the input normalisation folded in, then BN -> fixed."""
        conv, bn = seq[0], seq[1]
        k = self.b.input_shift  # x' = pixel * 2^k - zp: padding lands within 2^-k-1 grey level
        zp = np.round(mean * 255 * 2**k).astype(np.int64)
        w = _np(conv.weight) / (255.0 * 2**k * std)[None, :, None, None]
        q, s = int_per_channel(w, self.b.stem_bits)
        const = (w * (zp - 255.0 * 2**k * mean)[None, :, None, None]).sum((1, 2, 3))
        conv_f = conv(image.ref)
        acc = self.b.conv(f"{name}.conv", image, q, stride=conv.stride[0],
                          padding=conv.padding[0], fmt=f"int{self.b.stem_bits}", wbits=self.b.stem_bits,
                          acc_scale=s, ref=conv_f, source=f"{name}.0", zero_point=zp,
                          input_shift=k)
        bs, bh = bn_affine(bn)
        out_f = bn(conv_f)
        return self.b.requant(f"{name}.bn", acc, bs * s, bs * const + bh,
                              self.frac(f"{name}.bn", out_f), out_f, f"{name}.1")

    def quant_input(self, name: str, x: Value, unit_act, quant: N2UQActQuant,
                    r: torch.Tensor, source: str) -> Value:
        """Threshold node on a fixed tensor: RPReLU + quantizer folded."""
        c = x.type.shape[0]
        return self.b.threshold(name, x, np.full(c, 2.0**-x.type.frac), np.zeros(c), unit_act,
                                quant, r, source)

    def qconv(self, name: str, codes: Value, unit: QConvUnit, q_in: torch.Tensor,
              sign: np.ndarray | None = None) -> tuple[Value, np.ndarray, torch.Tensor]:
        """Odd-weight conv on codes; returns the acc, its scale and the float conv output."""
        if not isinstance(unit.conv.weight_quant, N2UQWeightQuant):
            fail(f"unsupported weight quantizer at {name}: "
                 f"{type(unit.conv.weight_quant).__name__} (the lowering takes N2UQ models)")
        m, ws = conv_weight_codes(unit.conv)
        scale = ws * float(unit.quant.output_step())
        conv_f = unit.conv(q_in)
        if sign is not None:
            m = m * sign[:, None, None, None].astype(np.int64)
            conv_f = conv_f * torch.from_numpy(sign).float().view(1, -1, 1, 1)
        acc = self.b.conv(f"{name}.conv", codes, m, stride=unit.conv.stride[0],
                          padding=unit.conv.padding[0], fmt="odd",
                          wbits=unit.conv.weight_quant.bits, acc_scale=scale, ref=conv_f,
                          source=f"{name}.conv")
        return acc, scale, conv_f

    def unit_chain(self, name: str, units: list[QConvUnit], x_codes: Value,
                   r0: torch.Tensor) -> tuple[Value, torch.Tensor, np.ndarray]:
        """Convs of a chain of units; BN+RPReLU+quantizer between them fold into
        thresholds. Returns the last accumulator, the last BN's float output and its g."""
        codes, r = x_codes, r0
        for i, unit in enumerate(units):
            q_in = unit.quant(r)
            bs, bh = bn_affine(unit.bn)
            if i + 1 < len(units):
                _, ws = conv_weight_codes(unit.conv)
                g = bs * ws * float(unit.quant.output_step())
                sign = np.where(g < 0, -1, 1)
                acc, scale, conv_f = self.qconv(f"{name}.unit{i + 1}", codes, unit, q_in, sign)
                nxt = units[i + 1]
                bn_f = unit.bn(unit.conv(q_in))
                r = nxt.act(bn_f)
                codes = self.b.threshold(f"{name}.unit{i + 2}.quant", acc, bs * scale * sign, bh,
                                         nxt.act, nxt.quant, r, f"{name}.unit{i + 2}")
            else:
                acc, scale, conv_f = self.qconv(f"{name}.unit{i + 1}", codes, unit, q_in)
                return acc, unit.bn(conv_f), bs * scale
        raise AssertionError("unreachable")

    def block(self, name: str, blk: _Block, x: Value) -> Value:
        units = blk.units()
        xf = x.ref
        r1 = units[0].act(xf)
        codes = self.quant_input(f"{name}.unit1.quant", x, units[0].act, units[0].quant, r1,
                                 f"{name}.unit1")
        acc, out_f, g = self.unit_chain(name, units, codes, r1)
        _bs_last, bh_last = bn_affine(units[-1].bn)
        # shortcut
        sc = blk.shortcut
        if sc is None:
            identity, id_f = x, xf
        elif blk.downsample_kind == "quant":
            id_f = sc.forward_from(r1)
            ds_codes = self.quant_input(f"{name}.shortcut.quant", x, units[0].act, sc.quant, r1,
                                        f"{name}.shortcut")
            ds_acc, ds_scale, _ = self.qconv(f"{name}.shortcut", ds_codes, sc, sc.quant(r1))
            identity = ("acc", ds_acc, ds_scale, sc)
        else:
            id_f = sc.forward_from(xf)
            q, s = int8_per_channel(_np(sc.conv.weight))
            acc_scale = s * 2.0**-x.type.frac
            ds_acc = self.b.conv(f"{name}.shortcut.conv", x, q, stride=sc.conv.stride[0],
                                 padding=0, fmt="int8", wbits=8, acc_scale=acc_scale,
                                 ref=sc.conv(xf), source=f"{name}.shortcut.conv")
            identity = ("acc", ds_acc, acc_scale, sc)
        sum_f = out_f + id_f
        out_full = blk.act_out(sum_f)
        pre = blk.act_out.bias1(sum_f)
        frac = self.frac(f"{name}.add", out_f, id_f, sum_f, out_full, pre)
        main = self.b.requant(f"{name}.unit{len(units)}.bn", acc, g, bh_last, frac, out_f,
                              f"{name}.unit{len(units)}.bn")
        if isinstance(identity, tuple):
            _, ds_acc, ds_scale, sc_unit = identity
            bs, bh = bn_affine(sc_unit.bn)
            identity = self.b.requant(f"{name}.shortcut.bn", ds_acc, bs * ds_scale, bh, frac,
                                      id_f, f"{name}.shortcut.bn")
        total = self.b.add(f"{name}.add", main, identity, frac, sum_f)
        return self.b.rprelu(f"{name}.act_out", total, blk.act_out, out_full, f"{name}.act_out")

    def head(self, x: Value, fc: nn.Linear) -> Value:
        _c, h, w = x.type.shape
        pooled = self.b.avgpool_sum("avgpool", x, x.ref.sum((2, 3)))
        q, s = int8_per_channel(_np(fc.weight))
        acc = self.b.linear("fc", pooled, q, s * 2.0**-x.type.frac,
                            x.ref.sum((2, 3)) @ fc.weight.detach().T, "fc")
        logits_f = fc(x.ref.mean((2, 3)))
        bias = _np(fc.bias) if fc.bias is not None else np.zeros(q.shape[0])
        return self.b.requant("fc.out", acc, s * 2.0**-x.type.frac / (h * w), bias,
                              self.frac("fc.out", logits_f), logits_f, "fc")


def walk(model: nn.Module, builder: Builder, image: Value, mean: np.ndarray, std: np.ndarray,
         fracs: dict[str, int] | None = None) -> Value:
    """Emit the whole network; returns the logits node."""
    w = Walker(builder, fracs)
    if isinstance(model, ResNet):
        x = w.stem("stem", model.stem, image, mean, std)
        if model.pool is not None:
            p = model.pool
            x = builder.maxpool("pool", x, p.kernel_size, p.stride, p.padding, p(x.ref))
        for si, stage in enumerate(model.stages):
            for bi, blk in enumerate(stage):
                x = w.block(f"stages.{si}.{bi}", blk, x)
        return w.head(x, model.fc)
    if isinstance(model, SmallCNN):
        x = w.stem("stem", model.stem, image, mean, std)
        for uname, unit, pool in (("unit1", model.unit1, model.pool), ("unit2", model.unit2, None)):
            r = unit.act(x.ref)
            codes = w.quant_input(f"{uname}.quant", x, unit.act, unit.quant, r, uname)
            acc, scale, conv_f = w.qconv(uname, codes, unit, unit.quant(r))
            bs, bh = bn_affine(unit.bn)
            out_f, g = unit.bn(conv_f), bs * scale
            refs = (out_f,) if pool is not None else (out_f, model.act_out(out_f),
                                                       model.act_out.bias1(out_f))
            x = builder.requant(f"{uname}.bn", acc, g, bh, w.frac(f"{uname}.bn", *refs), out_f,
                                f"{uname}.bn")
            if pool is not None:
                x = builder.maxpool("pool", x, pool.kernel_size, pool.stride, pool.padding,
                                    pool(x.ref))
        x = builder.rprelu("act_out", x, model.act_out, model.act_out(x.ref), "act_out")
        return w.head(x, model.fc)
    fail(f"unsupported model type {type(model).__name__}: the lowering knows ResNet and SmallCNN")
    raise AssertionError("unreachable")
