"""Chapter 07: what separable, grouped and aggregated convolutions cost, by formula and by counting real layers.

Every count here comes from building the layers and counting them (parameters with
:func:`~cnnlib.analysis.summary.count_parameters`, multiply-adds with PyTorch's FLOP counter via
:func:`~cnnlib.analysis.summary.count_mult_adds`); the formulas are computed beside the counts so
that a lecture can show the two agree.
"""

from __future__ import annotations

import torch.nn as nn

from ...analysis.summary import count_mult_adds, count_parameters, layer_table
from ...models.xception import SeparableConv2d

__all__ = [
    "RESNEXT_TABLE2",
    "conv_cost",
    "equal_budget_rows",
    "flow_rows",
    "grouping_rows",
    "separable_cost",
    "separable_ratio",
    "separable_rows",
]


def conv_cost(c_in: int, c_out: int, k: int, size: int, groups: int = 1) -> dict[str, int]:
    """A k x k convolution (no bias, stride 1, 'same' padding) on a size x size map: parameters and multiply-adds.

    ``params = c_out * (c_in / groups) * k * k``; every output value costs ``(c_in / groups) * k * k``
    multiply-adds, so ``mult_adds = params * size * size``.
    """
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide both c_in={c_in} and c_out={c_out}")
    params = c_out * (c_in // groups) * k * k
    return {"params": params, "mult_adds": params * size * size}


def separable_cost(c_in: int, c_out: int, k: int, size: int) -> dict[str, int]:
    """Depthwise k x k (one filter per input channel) then pointwise 1 x 1: ``c_in*k*k + c_in*c_out`` parameters."""
    depthwise = conv_cost(c_in, c_in, k, size, groups=c_in)
    pointwise = conv_cost(c_in, c_out, 1, size)
    return {key: depthwise[key] + pointwise[key] for key in depthwise}


def separable_ratio(c_out: int, k: int) -> float:
    """Separable / regular cost, for parameters and for multiply-adds alike: ``1/N + 1/k^2`` with N = c_out."""
    return 1 / c_out + 1 / k**2


def _input_sizes(model: nn.Module, input_shape: tuple[int, int, int], kind: type) -> dict[str, tuple[int, ...]]:
    """The input shape (C x H x W) of every module of type ``kind``, from one forward pass of a zero image."""
    import torch

    from ...analysis.activations import eval_mode

    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str):
        def hook(module: nn.Module, args: tuple) -> None:  # returns None: the input is left as it is
            shapes.setdefault(name, tuple(args[0].shape[1:]))

        return hook

    hooks = [m.register_forward_pre_hook(record(name)) for name, m in model.named_modules() if isinstance(m, kind)]
    try:
        with eval_mode(model), torch.no_grad():
            model(torch.zeros((1, *input_shape), device=next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
    return shapes


def separable_rows(model: nn.Module, input_shape: tuple[int, int, int]) -> list[dict]:
    """One row per :class:`SeparableConv2d` of ``model``: counted cost, the formula's, and a regular conv's.

    ``ratio_counted`` is the counted separable multiply-adds over those of a regular k x k convolution
    with the same input and output (the formula's count: that layer is not built); ``ratio_formula`` is
    ``1/N + 1/k^2``.
    """
    shapes = _input_sizes(model, input_shape, SeparableConv2d)
    rows = []
    for name, module in model.named_modules():
        if not isinstance(module, SeparableConv2d):
            continue
        c_in, h, w = shapes[name]
        if h != w:
            raise ValueError(f"{name}: square maps only, got {h}x{w}")
        c_out, k = module.pointwise.out_channels, module.depthwise.kernel_size[0]
        counted = {"params": count_parameters(module), "mult_adds": count_mult_adds(module, (c_in, h, w))}
        formula = separable_cost(c_in, c_out, k, h)
        regular = conv_cost(c_in, c_out, k, h)
        rows.append(
            {
                "layer": name,
                "c_in": c_in,
                "c_out": c_out,
                "k": k,
                "size": h,
                "params": counted["params"],
                "params_formula": formula["params"],
                "mult_adds": counted["mult_adds"],
                "mult_adds_formula": formula["mult_adds"],
                "regular_params": regular["params"],
                "regular_mult_adds": regular["mult_adds"],
                "ratio_counted": counted["mult_adds"] / regular["mult_adds"],
                "ratio_formula": separable_ratio(c_out, k),
            }
        )
    return rows


def flow_rows(model: nn.Module, input_shape: tuple[int, int, int]) -> list[dict]:
    """Xception's flows (the model's direct children: stem, entry, middle, exit, head): output, params, mult-adds.

    The global pooling, dropout and classifier are summed into one "head" row; shares are of the whole net.
    """
    table = layer_table(model, input_shape, leaves_only=False, depth=1)
    flows = {"stem": "stem", "entry_flow": "entry flow", "middle_flow": "middle flow", "exit_flow": "exit flow"}
    rows, head = [], {"flow": "head (pool, fc)", "output": "", "params": 0, "mult_adds": 0}
    for r in table.rows:
        if r.name in flows:
            rows.append({"flow": flows[r.name], "output": r.shape_text, "params": r.params, "mult_adds": r.mult_adds})
        else:
            head["params"] += r.params
            head["mult_adds"] += r.mult_adds
            head["output"] = r.shape_text
    rows.append(head)
    for r in rows:
        r["params_share"] = r["params"] / table.total_params
        r["mult_adds_share"] = r["mult_adds"] / table.total_mult_adds
    return rows


def grouping_rows(channels: int = 256, k: int = 3, size: int = 16, groups: tuple[int, ...] | None = None) -> list[dict]:
    """From a regular convolution to "extreme Inception": a 1x1 convolution, then a k x k one split into g groups.

    g = 1 is a 1x1 + a regular k x k; each larger g gives every group of ``channels / g`` channels its own
    k x k filters (an Inception module with g towers, Chollet's Fig. 3); g = ``channels`` is one k x k filter
    per channel after the 1x1 (Fig. 4, "extreme Inception"), which is a depthwise separable convolution up to
    the order of its two steps. Counted on built layers, on a ``size`` x ``size`` map.
    """
    if groups is None:
        groups = tuple(g for g in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024) if g <= channels)
    rows = []
    for g in groups:
        net = nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.Conv2d(channels, channels, k, padding=k // 2, groups=g, bias=False),
        )
        spatial = net[1]
        rows.append(
            {
                "groups": g,
                "channels_per_group": channels // g,
                "spatial_params": count_parameters(spatial),
                "params": count_parameters(net),
                "mult_adds": count_mult_adds(net, (channels, size, size)),
            }
        )
    return rows


# Xie et al. 2017, Table 2: (cardinality C, bottleneck width d) pairs with about the same complexity as
# ResNet-50's conv2 bottleneck (256 -> 64 -> 64 -> 256), and Table 3's ImageNet top-1 error of ResNeXt-50
# with each (224 x 224, single crop).
RESNEXT_TABLE2 = (
    {"cardinality": 1, "width": 64, "group_conv_width": 64, "top1_error": 23.9},
    {"cardinality": 2, "width": 40, "group_conv_width": 80, "top1_error": 23.0},
    {"cardinality": 4, "width": 24, "group_conv_width": 96, "top1_error": 22.6},
    {"cardinality": 8, "width": 14, "group_conv_width": 112, "top1_error": 22.3},
    {"cardinality": 32, "width": 4, "group_conv_width": 128, "top1_error": 22.2},
)


def equal_budget_rows(in_channels: int = 256, size: int = 56) -> list[dict]:
    """Table 2 of Xie et al. counted: the aggregated bottleneck 1x1 (C*d) - 3x3 grouped (C groups) - 1x1 for each
    (C, d) pair, built and counted on the ``size`` x ``size`` map of conv2 (no BN, no bias).

    The paper's formula ``C * (256 d + 3*3*d*d + d*256)`` is given beside the count.
    """
    rows = []
    for spec in RESNEXT_TABLE2:
        c, d = spec["cardinality"], spec["width"]
        width = c * d
        block = nn.Sequential(
            nn.Conv2d(in_channels, width, 1, bias=False),
            nn.Conv2d(width, width, 3, padding=1, groups=c, bias=False),
            nn.Conv2d(width, in_channels, 1, bias=False),
        )
        rows.append(
            {
                **spec,
                "label": f"{c}x{d}d",
                "params": count_parameters(block),
                "params_formula": c * (in_channels * d + 9 * d * d + d * in_channels),
                "mult_adds": count_mult_adds(block, (in_channels, size, size)),
            }
        )
    return rows
