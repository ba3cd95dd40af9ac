"""Measurements for chapter 04 (GoogLeNet and Inception): every number of the lecture is counted here.

- :data:`TABLE_1`: the per-layer table of Szegedy et al. 2014 ("Going Deeper with Convolutions",
  https://arxiv.org/abs/1409.4842, Table 1) as printed, and :func:`googlenet_table`, which
  measures the same rows on a real :class:`~cnnlib.models.googlenet.GoogLeNet` and sets the
  two side by side.
- :func:`module_costs`: parameters and multiply-adds of the naive Inception module (Figure 2(a))
  and of the module with 1x1 reductions (Figure 2(b)), per branch, counted on real modules.
- :func:`factorization_costs`: the convolution factorisations of Inception-v2/v3 (Szegedy et al.
  2015, https://arxiv.org/abs/1512.00567, Sec. 3), counted on real convolution stacks.
- :func:`compose_convs`: two stacked linear convolutions as the single convolution they equal.
- :func:`branch_ablation`: silence one branch of one Inception module at a time and measure the
  accuracy that is left.

Every count comes from PyTorch modules (parameters from ``nn.Module.parameters``, multiply-adds
from :func:`cnnlib.summary.layer_table` / ``count_mult_adds``), never from a second hand-written
formula; the tests compare them with the formulas of the slides.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from .data import ImageTensors
from .models.googlenet import INCEPTIONS, GoogLeNet, InceptionModule, NaiveInceptionModule
from .receptive_field import compose_kernels
from .summary import count_mult_adds, layer_table

__all__ = [
    "TABLE_1",
    "PaperRow",
    "MeasuredRow",
    "GoogLeNetTable",
    "googlenet_table",
    "BranchCost",
    "ModuleCosts",
    "module_costs",
    "table1_module_costs",
    "Factorization",
    "factorization_costs",
    "compose_convs",
    "BranchAblation",
    "find_branches",
    "branch_ablation",
    "plot_branch_ablation",
]

K = 1024  # Table 1's "K" in the params column is 1024 weights: (3a) has 163,328 weights = 159.5K
M = 10**6  # Table 1's "M" in the ops column is 10^6 multiply-adds: (3a) 163,328 x 28 x 28 = 128.0M


# ---------------------------------------------------------------------------------------------
# Table 1 of the paper, as printed


@dataclass(frozen=True)
class PaperRow:
    """One row of Table 1 of Szegedy et al. 2014, as printed."""

    label: str  # "convolution", "max pool", "inception (3a)", ...
    patch: str  # patch size / stride, "" for Inception rows
    output: tuple[int, int, int]  # H, W, C as printed ("28x28x256")
    depth: int  # layers with weights along the row
    params_k: float | None  # thousands (1024) of weights, None where the paper prints nothing
    ops_m: float | None  # millions of multiply-adds
    modules: tuple[str, ...]  # the module(s) of cnnlib's GoogLeNet that compute this row


TABLE_1: tuple[PaperRow, ...] = (
    PaperRow("convolution", "7x7/2", (112, 112, 64), 1, 2.7, 34, ("conv1",)),
    PaperRow("max pool", "3x3/2", (56, 56, 64), 0, None, None, ("maxpool1",)),
    PaperRow("convolution", "3x3/1", (56, 56, 192), 2, 112, 360, ("conv2", "conv3")),
    PaperRow("max pool", "3x3/2", (28, 28, 192), 0, None, None, ("maxpool2",)),
    PaperRow("inception (3a)", "", (28, 28, 256), 2, 159, 128, ("inception3a",)),
    PaperRow("inception (3b)", "", (28, 28, 480), 2, 380, 304, ("inception3b",)),
    PaperRow("max pool", "3x3/2", (14, 14, 480), 0, None, None, ("maxpool3",)),
    PaperRow("inception (4a)", "", (14, 14, 512), 2, 364, 73, ("inception4a",)),
    PaperRow("inception (4b)", "", (14, 14, 512), 2, 437, 88, ("inception4b",)),
    PaperRow("inception (4c)", "", (14, 14, 512), 2, 463, 100, ("inception4c",)),
    PaperRow("inception (4d)", "", (14, 14, 528), 2, 580, 119, ("inception4d",)),
    PaperRow("inception (4e)", "", (14, 14, 832), 2, 840, 170, ("inception4e",)),
    PaperRow("max pool", "3x3/2", (7, 7, 832), 0, None, None, ("maxpool4",)),
    PaperRow("inception (5a)", "", (7, 7, 832), 2, 1072, 54, ("inception5a",)),
    PaperRow("inception (5b)", "", (7, 7, 1024), 2, 1388, 71, ("inception5b",)),
    PaperRow("avg pool", "7x7/1", (1, 1, 1024), 0, None, None, ("avgpool",)),
    PaperRow("dropout (40%)", "", (1, 1, 1024), 0, None, None, ("dropout",)),
    PaperRow("linear", "", (1, 1, 1000), 1, 1000, 1, ("fc",)),
)


@dataclass(frozen=True)
class MeasuredRow:
    """A row of Table 1 next to what the model computes."""

    paper: PaperRow
    output: tuple[int, int, int]  # H, W, C of our module's output
    weights: int  # weights of the row's modules (biases and batch-norm parameters not counted, as in the paper)
    params: int  # every parameter (weights + biases + batch norm)
    mult_adds: int  # per 224x224 image

    @property
    def params_k(self) -> float:
        return self.weights / K

    @property
    def ops_m(self) -> float:
        return self.mult_adds / M

    @property
    def agrees(self) -> bool:
        """Within the paper's rounding (1K, 1M) in both columns, and the same output size."""
        p = self.paper
        same_params = p.params_k is None or abs(self.params_k - p.params_k) <= 1
        same_ops = p.ops_m is None or abs(self.ops_m - p.ops_m) <= 1
        return same_params and same_ops and self.output == p.output


@dataclass(frozen=True, repr=False)
class GoogLeNetTable:
    """Table 1 of the paper beside the same rows measured on a model (``rows``), with totals."""

    model: str
    rows: tuple[MeasuredRow, ...]
    total_params: int  # every parameter of the model (without auxiliary heads if it has none)
    total_mult_adds: int

    @property
    def paper_params_k(self) -> float:
        return sum(r.paper.params_k or 0 for r in self.rows)

    @property
    def paper_ops_m(self) -> float:
        return sum(r.paper.ops_m or 0 for r in self.rows)

    @property
    def weights(self) -> int:
        return sum(r.weights for r in self.rows)

    def __getitem__(self, label: str) -> MeasuredRow:
        for row in self.rows:
            if row.paper.label == label or label in row.paper.modules:
                return row
        raise KeyError(f"no row {label!r}; rows: {[r.paper.label for r in self.rows]}")

    def _lines(self) -> list[tuple[str, ...]]:
        num = lambda v, f="{:,.0f}": "" if v is None else f.format(v)  # noqa: E731
        out = []
        for r in self.rows:
            p = r.paper
            shape = lambda s: "x".join(map(str, s))  # noqa: E731
            out.append((
                p.label, p.patch, shape(p.output), "" if r.output == p.output else shape(r.output),
                num(p.params_k, "{:g}K"), num(r.params_k, "{:.1f}K") if r.weights else "",
                num(p.ops_m, "{:g}M"), num(r.ops_m, "{:.1f}M") if r.mult_adds else "",
                "" if r.agrees else "differs",
            ))
        out.append(("total", "", "", "", f"{self.paper_params_k:,.0f}K", f"{self.weights / K:,.0f}K",
                    f"{self.paper_ops_m:,.0f}M", f"{self.total_mult_adds / M:,.0f}M", ""))
        return out

    _HEADER = ("type", "patch/stride", "output (paper)", "output (ours, if other)", "params (paper)", "params (ours)",
               "ops (paper)", "ops (ours)", "")

    def to_text(self) -> str:
        lines = [self._HEADER] + self._lines()
        widths = [max(len(line[i]) for line in lines) for i in range(len(self._HEADER))]
        fmt = lambda line: "  ".join(c.rjust(w) if i >= 4 else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths)))  # noqa: E731
        rule = "-" * (sum(widths) + 2 * len(widths))
        return "\n".join([f"{self.model}: Table 1 of Szegedy et al. 2014 (params in K = 1024 weights, ops in M multiply-adds)",
                          fmt(lines[0]), rule, *map(fmt, lines[1:-1]), rule, fmt(lines[-1])])

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._HEADER)
        body = []
        for i, line in enumerate(self._lines()):
            style = ' style="font-weight:bold;border-top:1px solid"' if i == len(self.rows) else ""
            cells = "".join(
                f'<td style="text-align:{"right" if j >= 4 else "left"}{";color:#d62728" if c == "differs" else ""}">{html.escape(c)}</td>'
                for j, c in enumerate(line)
            )
            body.append(f"<tr{style}>{cells}</tr>")
        caption = (f"{html.escape(self.model)} beside Table 1 of Szegedy et al. 2014 "
                   "(params: K = 1024 weights, biases not counted; ops: M = 10<sup>6</sup> multiply-adds, 224×224 input)")
        return f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _weights(module: nn.Module) -> int:
    """Weights of convolutions and linear layers (no biases, no batch-norm parameters): the paper's "params"."""
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def googlenet_table(model: GoogLeNet) -> GoogLeNetTable:
    """Measure every row of Table 1 on ``model`` (a GoogLeNet with the ImageNet stem) for one 3x224x224 image."""
    if not isinstance(model, GoogLeNet):
        raise TypeError(f"googlenet_table needs a cnnlib GoogLeNet (e.g. get_model('googlenet_paper')), got {type(model).__name__}")
    if model.cifar_stem:
        raise ValueError("Table 1 describes the ImageNet network; this GoogLeNet has the CIFAR stem (use 'googlenet_paper' or 'googlenet')")
    table = layer_table(model, (model.in_channels, 224, 224), leaves_only=False, depth=1)
    modules = dict(model.named_modules())
    rows = []
    for paper in TABLE_1:
        last = table[paper.modules[-1]]
        c, h, w = last.output_shape if len(last.output_shape) == 3 else (last.output_shape[0], 1, 1)
        rows.append(MeasuredRow(
            paper=paper,
            output=(h, w, c),
            weights=sum(_weights(modules[n]) for n in paper.modules),
            params=sum(table[n].params for n in paper.modules),
            mult_adds=sum(table[n].mult_adds for n in paper.modules),
        ))
    return GoogLeNetTable(type(model).__name__, tuple(rows), table.total_params, table.total_mult_adds)


# ---------------------------------------------------------------------------------------------
# Naive vs reduced module


@dataclass(frozen=True)
class BranchCost:
    """One branch of an Inception module: output channels, parameters (weights + biases), multiply-adds."""

    channels: int
    params: int
    mult_adds: int


@dataclass(frozen=True)
class ModuleCosts:
    """The naive module (Figure 2(a)) and the module with 1x1 reductions (Figure 2(b)), per branch."""

    in_channels: int
    size: int
    naive: dict[str, BranchCost]  # "1x1", "3x3", "5x5", "pool"
    reduced: dict[str, BranchCost]

    @staticmethod
    def _total(costs: Mapping[str, BranchCost]) -> BranchCost:
        return BranchCost(*(sum(getattr(b, f) for b in costs.values()) for f in ("channels", "params", "mult_adds")))

    @property
    def naive_total(self) -> BranchCost:
        return self._total(self.naive)

    @property
    def reduced_total(self) -> BranchCost:
        return self._total(self.reduced)


BRANCHES = ("1x1", "3x3", "5x5", "pool")


def _check_widths(**widths: int) -> None:
    bad = {k: v for k, v in widths.items() if not isinstance(v, int) or v < 1}
    if bad:
        raise ValueError(f"channel counts and sizes must be positive integers; got {bad}")


def module_costs(
    *, in_channels: int, ch1x1: int, ch3x3_reduce: int, ch3x3: int, ch5x5_reduce: int, ch5x5: int, pool_proj: int, size: int
) -> ModuleCosts:
    """Per-branch costs of the naive and the reduced Inception module on ``in_channels`` maps of ``size`` x ``size``.

    Both are built as real modules (convs with biases, no batch norm, as in the 2014 paper) on the
    meta device and counted by :func:`cnnlib.summary.layer_table`. The naive module has no
    reductions and no pool projection: its pool branch passes all ``in_channels`` maps through.
    """
    _check_widths(in_channels=in_channels, ch1x1=ch1x1, ch3x3_reduce=ch3x3_reduce, ch3x3=ch3x3, ch5x5_reduce=ch5x5_reduce,
                  ch5x5=ch5x5, pool_proj=pool_proj, size=size)
    with torch.device("meta"):
        naive = NaiveInceptionModule(in_channels=in_channels, ch1x1=ch1x1, ch3x3=ch3x3, ch5x5=ch5x5)
        reduced = InceptionModule(
            in_channels=in_channels, ch1x1=ch1x1, ch3x3_reduce=ch3x3_reduce, ch3x3=ch3x3,
            ch5x5_reduce=ch5x5_reduce, ch5x5=ch5x5, pool_proj=pool_proj, norm_layer=None,
        )
    out = []
    for module in (naive, reduced):
        table = layer_table(module, (in_channels, size, size), leaves_only=False, depth=1)
        out.append({
            label: BranchCost(table[f"branch{i}"].output_shape[0], table[f"branch{i}"].params, table[f"branch{i}"].mult_adds)
            for i, label in enumerate(BRANCHES, start=1)
        })
    return ModuleCosts(in_channels, size, *out)


def table1_module_costs(name: str) -> ModuleCosts:
    """:func:`module_costs` for the Inception module ``name`` ("3a" ... "5b") of Table 1 at its 224-px grid size."""
    sizes = {"3": 28, "4": 14, "5": 7}
    for cfg in INCEPTIONS:
        if cfg.name == name:
            return module_costs(in_channels=cfg.in_channels, **cfg.branch_channels(), size=sizes[name[0]])
    raise KeyError(f"no Inception module {name!r} in Table 1; modules: {[c.name for c in INCEPTIONS]}")


# ---------------------------------------------------------------------------------------------
# Factorised convolutions (Inception-v2/v3)


@dataclass(frozen=True)
class Factorization:
    """One convolution and the stack of smaller ones that replaces it, counted at ``channels`` -> ``channels``."""

    name: str
    source: str  # where the paper describes it
    original: nn.Module
    factorized: nn.Module
    params_before: int
    params_after: int
    mult_adds_before: int
    mult_adds_after: int

    @property
    def saving(self) -> float:
        """Fraction of the parameters (and, at stride 1 with the same output size, of the multiply-adds) saved."""
        return 1 - self.params_after / self.params_before


def _conv(c: int, kernel: int | tuple[int, int]) -> nn.Conv2d:
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    return nn.Conv2d(c, c, (kh, kw), padding=((kh - 1) // 2, (kw - 1) // 2), bias=False)


def _even_conv(c: int) -> nn.Sequential:
    """A 2x2 conv that keeps the size (one row and column of zero padding on one side)."""
    return nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(c, c, 2, bias=False))


def factorization_costs(channels: int = 192, size: int = 17) -> list[Factorization]:
    """The factorisations of Szegedy et al. 2015 (Sec. 3), counted on real, bias-free convolutions.

    Every stack maps ``channels`` to ``channels`` maps of ``size`` x ``size`` (the paper's
    assumption of equal widths; the intermediate layer has ``channels`` maps too).
    """
    _check_widths(channels=channels, size=size)
    c = channels
    cases = [
        ("5x5 -> 3x3 then 3x3", "Inception-v2/v3, Fig. 5 (Inception-BN: Ioffe & Szegedy 2015)", _conv(c, 5), nn.Sequential(_conv(c, 3), _conv(c, 3))),
        ("3x3 -> 1x3 then 3x1", "Inception-v3, Fig. 3 and 7", _conv(c, 3), nn.Sequential(_conv(c, (1, 3)), _conv(c, (3, 1)))),
        ("7x7 -> 1x7 then 7x1", "Inception-v3, Fig. 6 (17x17 grid)", _conv(c, 7), nn.Sequential(_conv(c, (1, 7)), _conv(c, (7, 1)))),
        ("3x3 -> 2x2 then 2x2", "Inception-v3, Sec. 3.2 (the rejected alternative)", _conv(c, 3), nn.Sequential(_even_conv(c), _even_conv(c))),
    ]
    out = []
    shape = (c, size, size)
    for name, source, original, factorized in cases:
        p0, p1 = sum(p.numel() for p in original.parameters()), sum(p.numel() for p in factorized.parameters())
        out.append(Factorization(name, source, original, factorized, p0, p1, count_mult_adds(original, shape), count_mult_adds(factorized, shape)))
    return out


def compose_convs(first: nn.Conv2d, second: nn.Conv2d) -> nn.Conv2d:
    """The single convolution equal to ``second(first(x))`` (two linear convolutions, nothing in between).

    Its kernel is the full 2-D convolution of the two kernels (summed over the middle channels),
    so two 3x3 convs are one 5x5 conv and a 1xn then an nx1 conv are one nxn conv of rank 1.
    Both convs must have stride 1, no padding, no dilation, no groups ("valid" convs: with zero
    padding the two would differ from the composed conv along the border).
    """
    for conv in (first, second):
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"compose_convs takes two nn.Conv2d, got {type(conv).__name__}")
        if conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1 or conv.padding not in ((0, 0), "valid"):
            raise ValueError("compose_convs needs stride 1, dilation 1, groups 1 and no padding in both convs")
    if second.in_channels != first.out_channels:
        raise ValueError(f"the first conv outputs {first.out_channels} channels, the second expects {second.in_channels}")
    with torch.no_grad():  # the kernel arithmetic is chapter 03's (receptive_field.compose_kernels)
        weight, bias = compose_kernels([first.weight, second.weight], [first.bias, second.bias])
    has_bias = first.bias is not None or second.bias is not None
    conv = nn.Conv2d(first.in_channels, second.out_channels, tuple(weight.shape[2:]), bias=has_bias)
    with torch.no_grad():
        conv.weight.copy_(weight)
        if has_bias:
            conv.bias.copy_(bias)
    return conv


# ---------------------------------------------------------------------------------------------
# Branch ablation


def find_branches(model: nn.Module) -> dict[str, list[str]]:
    """``{block name: [branch names]}`` for every module whose direct children are called ``branch...``."""
    out = {}
    for name, module in model.named_modules():
        branches = [child for child, _ in module.named_children() if child.startswith("branch")]
        if len(branches) >= 2:
            out[name] = branches
    return out


@dataclass(frozen=True)
class BranchAblation:
    """Test accuracy with every branch intact (``baseline``) and with one branch silenced at a time."""

    baseline: float
    images: int
    mode: str
    rows: tuple[tuple[str, str, int, float], ...]  # (block, branch, output channels of the branch, accuracy)

    def drop(self, block: str, branch: str) -> float:
        """Accuracy lost (in points, 0-100) when ``branch`` of ``block`` is silenced."""
        for b, br, _, acc in self.rows:
            if (b, br) == (block, branch):
                return 100 * (self.baseline - acc)
        raise KeyError(f"no branch {branch!r} in block {block!r}")

    def to_text(self) -> str:
        lines = [f"baseline accuracy {100 * self.baseline:.2f} % on {self.images} images; branch outputs replaced by their {self.mode}"]
        lines += [f"{b:12s} {br:8s} {c:4d} channels  accuracy {100 * a:6.2f} %  drop {100 * (self.baseline - a):6.2f} points"
                  for b, br, c, a in self.rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.to_text()


def _silence(mode: str):
    def hook(module: nn.Module, inputs, output: Tensor) -> Tensor:
        if mode == "zero":
            return torch.zeros_like(output)
        return output.mean(dim=(0, 2, 3), keepdim=True).expand_as(output).clone()  # each channel's mean over the batch

    return hook


def _staging(model: nn.Module, blocks: Mapping[str, Sequence[str]]) -> tuple[nn.Sequential, list[int]] | None:
    """If every block is a child of one ``nn.Sequential`` whose output goes to ``model.forward_head``: it and the blocks' indices."""
    parents = {name.rpartition(".")[0] for name in blocks}
    if len(parents) != 1 or not hasattr(model, "forward_head"):
        return None
    parent = model.get_submodule(parents.pop()) if "" not in parents else model
    if not isinstance(parent, nn.Sequential):
        return None
    indices = []
    for name in blocks:
        idx = name.rpartition(".")[2]
        if not idx.isdigit():
            return None
        indices.append(int(idx))
    return parent, indices


@torch.no_grad()
def branch_ablation(
    model: nn.Module,
    data: ImageTensors,
    blocks: Mapping[str, Sequence[str]] | None = None,
    mode: str = "zero",
    batch_size: int = 250,
) -> BranchAblation:
    """Silence one branch of one multi-branch block at a time and measure the accuracy on ``data``.

    ``blocks``: ``{block name: [branch names]}``; by default every module with ``branch*``
    children (:func:`find_branches`). ``mode="zero"`` replaces the branch's output by zeros (the
    branch is switched off); ``mode="mean"`` by each channel's mean over the batch and positions
    (the branch passes no information, but the next layer sees its usual level). The model is
    evaluated in eval mode, float32, and left as it was: every hook is removed.

    Speed: when the blocks are the children of one ``nn.Sequential`` that feeds ``forward_head``
    (as in ``SmallInception.features``), the input of every block is computed once per batch and
    each ablated forward pass starts at the ablated block. The shortcut is checked against the
    model's own output on every batch (a mismatch raises).
    """
    from .data import normalize

    if mode not in ("zero", "mean"):
        raise ValueError(f"mode must be 'zero' or 'mean', got {mode!r}")
    blocks = find_branches(model) if blocks is None else blocks
    if not blocks:
        raise ValueError(f"{type(model).__name__} has no block with two or more children named 'branch...'; pass blocks=...")
    modules = dict(model.named_modules())
    for block, branches in blocks.items():
        for branch in branches:
            if f"{block}.{branch}" not in modules:
                raise KeyError(f"{type(model).__name__} has no module {block}.{branch}")
    keys = [(b, br) for b, brs in blocks.items() for br in brs]
    staging = _staging(model, blocks)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = {key: 0 for key in keys}
    correct_base = 0
    channels: dict[tuple[str, str], int] = {}
    try:
        for start in range(0, len(data), batch_size):
            images = data.images[start : start + batch_size].to(device)
            labels = data.labels[start : start + batch_size].to(device)
            x = normalize(images, data.spec.mean, data.spec.std)
            inputs: list[Tensor] = []
            if staging is not None:
                parent, _ = staging
                handle = parent.register_forward_pre_hook(lambda m, args: inputs.append(args[0]))
            try:
                logits = model(x)
            finally:
                if staging is not None:
                    handle.remove()
            correct_base += (logits.argmax(1) == labels).sum().item()
            if staging is not None:  # the input of every child of the Sequential, once
                parent, _ = staging
                h = inputs[0]
                stage_inputs = []
                for child in parent:
                    stage_inputs.append(h)
                    h = child(h)
                # the same children on the same tensors: equal up to rounding at most; rtol/atol 1e-4 only tell a model
                # whose blocks feed forward_head directly from one that computes something else (differences O(1))
                if not torch.allclose(model.forward_head(h), logits, atol=1e-4, rtol=1e-4):
                    raise RuntimeError(f"{type(model).__name__}: forward_head(features) differs from the model's output; pass a model "
                                       "whose blocks feed forward_head directly")
            for block, branch in keys:
                target = modules[f"{block}.{branch}"]
                hooks = [target.register_forward_hook(_silence(mode)),
                         target.register_forward_hook(lambda m, i, o, k=(block, branch): channels.setdefault(k, o.shape[1]) and None)]
                try:
                    if staging is not None:
                        parent, indices = staging
                        k = indices[list(blocks).index(block)]
                        h = stage_inputs[k]
                        for child in list(parent)[k:]:
                            h = child(h)
                        out = model.forward_head(h)
                    else:
                        out = model(x)
                finally:
                    for hk in hooks:
                        hk.remove()
                correct[(block, branch)] += (out.argmax(1) == labels).sum().item()
    finally:
        model.train(was_training)
    n = len(data)
    rows = tuple((b, br, channels[(b, br)], correct[(b, br)] / n) for b, br in keys)
    return BranchAblation(correct_base / n, n, mode, rows)


def plot_branch_ablation(result: BranchAblation, labels: Mapping[str, str] | None = None, branch_names: Mapping[str, str] | None = None,
                         title: str = ""):
    """Grouped bars: accuracy lost (points) when each branch of each block is silenced; channels printed on the bars."""
    import numpy as np

    from .viz import STYLE, _figure

    blocks = list(dict.fromkeys(b for b, _, _, _ in result.rows))
    branches = list(dict.fromkeys(br for _, br, _, _ in result.rows))
    fig, axes = _figure(figsize=(max(7, 0.9 * len(blocks) + 2), 4))
    ax = axes[0, 0]
    colors = STYLE["axes.prop_cycle"].by_key()["color"]
    width = 0.8 / len(branches)
    x = np.arange(len(blocks))
    for j, branch in enumerate(branches):
        ys, chans = [], []
        for block in blocks:
            row = next((r for r in result.rows if r[0] == block and r[1] == branch), None)
            ys.append(np.nan if row is None else 100 * (result.baseline - row[3]))
            chans.append(None if row is None else row[2])
        pos = x + (j - (len(branches) - 1) / 2) * width
        ax.bar(pos, ys, width, color=colors[j % len(colors)], label=(branch_names or {}).get(branch, branch))
        for p, y, c in zip(pos, ys, chans):
            if c is not None and not np.isnan(y):
                ax.annotate(str(c), (p, max(y, 0)), ha="center", va="bottom", fontsize=7, color="gray")
    ax.set_xticks(x, [(labels or {}).get(b, b) for b in blocks], rotation=0, fontsize=9)
    ax.set_ylabel("accuracy lost (points)")
    ax.set_xlabel("block (grey numbers: output channels of the silenced branch)")
    ax.set_title(title or f"Silencing one branch at a time (baseline {100 * result.baseline:.1f} %, {result.images} test images)")
    ax.axhline(0, color="black", lw=0.8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
