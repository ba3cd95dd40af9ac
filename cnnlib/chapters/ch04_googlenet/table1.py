"""GoogLeNet's Table 1 (Szegedy et al. 2014, "Going Deeper with Convolutions",
https://arxiv.org/abs/1409.4842) as printed, and measured on a real GoogLeNet.

- :data:`TABLE_1` and :func:`googlenet_table`: the paper's rows beside the same rows measured on
  :class:`~cnnlib.models.googlenet.GoogLeNet`;
- :func:`table1_module_costs`: :func:`cnnlib.analysis.costs.module_costs` for a row of Table 1;
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import torch.nn as nn

from ...analysis.costs import ModuleCosts, module_costs
from ...analysis.summary import layer_table
from ...models.googlenet import INCEPTIONS, GoogLeNet

__all__ = [
    "TABLE_1",
    "GoogLeNetTable",
    "MeasuredRow",
    "PaperRow",
    "googlenet_table",
    "table1_module_costs",
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
            out.append(
                (
                    p.label,
                    p.patch,
                    shape(p.output),
                    "" if r.output == p.output else shape(r.output),
                    num(p.params_k, "{:g}K"),
                    num(r.params_k, "{:.1f}K") if r.weights else "",
                    num(p.ops_m, "{:g}M"),
                    num(r.ops_m, "{:.1f}M") if r.mult_adds else "",
                    "" if r.agrees else "differs",
                )
            )
        out.append(
            (
                "total",
                "",
                "",
                "",
                f"{self.paper_params_k:,.0f}K",
                f"{self.weights / K:,.0f}K",
                f"{self.paper_ops_m:,.0f}M",
                f"{self.total_mult_adds / M:,.0f}M",
                "",
            )
        )
        return out

    _HEADER = (
        "type",
        "patch/stride",
        "output (paper)",
        "output (ours, if other)",
        "params (paper)",
        "params (ours)",
        "ops (paper)",
        "ops (ours)",
        "",
    )

    def to_text(self) -> str:
        lines = [self._HEADER] + self._lines()
        widths = [max(len(line[i]) for line in lines) for i in range(len(self._HEADER))]
        fmt = lambda line: "  ".join(c.rjust(w) if i >= 4 else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths)))  # noqa: E731
        rule = "-" * (sum(widths) + 2 * len(widths))
        return "\n".join(
            [
                f"{self.model}: Table 1 of Szegedy et al. 2014 (params in K = 1024 weights, ops in M multiply-adds)",
                fmt(lines[0]),
                rule,
                *map(fmt, lines[1:-1]),
                rule,
                fmt(lines[-1]),
            ]
        )

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._HEADER)
        body = []
        for i, line in enumerate(self._lines()):
            style = ' style="font-weight:bold;border-top:1px solid"' if i == len(self.rows) else ""
            cells = "".join(
                f'<td style="text-align:{"right" if j >= 4 else "left"}'
                f'{";color:#D55E00" if c == "differs" else ""}">{html.escape(c)}</td>'
                for j, c in enumerate(line)
            )
            body.append(f"<tr{style}>{cells}</tr>")
        caption = (
            f"{html.escape(self.model)} beside Table 1 of Szegedy et al. 2014 "
            "(params: K = 1024 weights, biases not counted; ops: M = 10<sup>6</sup> multiply-adds, 224×224 input)"
        )
        return (
            f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )


def _weights(module: nn.Module) -> int:
    """Weights of convolutions and linear layers (no biases, no batch-norm parameters): the paper's "params"."""
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def googlenet_table(model: GoogLeNet) -> GoogLeNetTable:
    """Measure every row of Table 1 on ``model`` (a GoogLeNet with the ImageNet stem) for one 3x224x224 image."""
    if not isinstance(model, GoogLeNet):
        raise TypeError(
            f"googlenet_table needs a cnnlib GoogLeNet (e.g. get_model('googlenet_paper')), got {type(model).__name__}"
        )
    if model.cifar_stem:
        raise ValueError(
            "Table 1 describes the ImageNet network; this GoogLeNet has the CIFAR stem "
            "(use 'googlenet_paper' or 'googlenet')"
        )
    table = layer_table(model, (model.in_channels, 224, 224), leaves_only=False, depth=1)
    modules = dict(model.named_modules())
    rows = []
    for paper in TABLE_1:
        last = table[paper.modules[-1]]
        c, h, w = last.output_shape if len(last.output_shape) == 3 else (last.output_shape[0], 1, 1)
        rows.append(
            MeasuredRow(
                paper=paper,
                output=(h, w, c),
                weights=sum(_weights(modules[n]) for n in paper.modules),
                params=sum(table[n].params for n in paper.modules),
                mult_adds=sum(table[n].mult_adds for n in paper.modules),
            )
        )
    return GoogLeNetTable(type(model).__name__, tuple(rows), table.total_params, table.total_mult_adds)


# ---------------------------------------------------------------------------------------------
# Naive vs reduced module


def table1_module_costs(name: str) -> ModuleCosts:
    """:func:`module_costs` for the Inception module ``name`` ("3a" ... "5b") of Table 1 at its 224-px grid size."""
    sizes = {"3": 28, "4": 14, "5": 7}
    for cfg in INCEPTIONS:
        if cfg.name == name:
            return module_costs(in_channels=cfg.in_channels, **cfg.branch_channels(), size=sizes[name[0]])
    raise KeyError(f"no Inception module {name!r} in Table 1; modules: {[c.name for c in INCEPTIONS]}")
