"""Per-layer tables: output shape, parameters and multiply-adds of every layer.

Shapes and parameter counts come from ``torchinfo``; multiply-adds from
PyTorch's own FLOP counter (``torch.utils.flop_counter.FlopCounterMode``,
which counts a multiply-add as two FLOPs; we divide by two). No arithmetic is
done by hand here: the point of the lecture tables is that the library's
count agrees with the formula written on the slide.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torchinfo
from torch.utils.flop_counter import FlopCounterMode

from ..runtime import reuse_freed_memory
from .activations import eval_mode

__all__ = [
    "LayerRow",
    "LayerTable",
    "layer_table",
    "count_parameters",
    "count_mult_adds",
    "measure_latency",
    "median_seconds",
]


@dataclass(frozen=True)
class LayerRow:
    name: str  # dotted module path, e.g. "features.0"
    kind: str  # module class, e.g. "Conv2d"
    output_shape: tuple[int, ...]  # without the batch dimension
    params: int
    mult_adds: int  # per image

    @property
    def connections(self) -> int:
        """LeCun et al.'s "connections": multiply-adds plus one bias addition per output value (0 without weights)."""
        if not self.params:
            return 0
        return self.mult_adds + math.prod(self.output_shape)

    @property
    def shape_text(self) -> str:
        """``C@HxW`` for feature maps (LeCun's notation), plain numbers otherwise."""
        if len(self.output_shape) == 3:
            c, h, w = self.output_shape
            return f"{c}@{h}x{w}"
        return "x".join(map(str, self.output_shape))


@dataclass(frozen=True, repr=False)
class LayerTable:
    model: str
    input_shape: tuple[int, ...]
    rows: tuple[LayerRow, ...]
    total_params: int
    total_mult_adds: int

    def __getitem__(self, name: str) -> LayerRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no layer {name!r}; layers: {[r.name for r in self.rows]}")

    def _lines(self) -> list[tuple[str, ...]]:
        body = [(r.name, r.kind, r.shape_text, f"{r.params:,}", f"{r.mult_adds:,}") for r in self.rows]
        return body + [("total", "", "", f"{self.total_params:,}", f"{self.total_mult_adds:,}")]

    def to_text(self) -> str:
        header = ("layer", "type", "output", "parameters", "multiply-adds")
        lines = [header] + self._lines()
        widths = [max(len(line[i]) for line in lines) for i in range(5)]
        fmt = lambda line: "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))  # noqa: E731
        out = [f"{self.model}, input {'x'.join(map(str, self.input_shape))}", fmt(header), "-" * (sum(widths) + 8)]
        out += [fmt(line) for line in lines[1:-1]] + ["-" * (sum(widths) + 8), fmt(lines[-1])]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in ("layer", "type", "output", "parameters", "multiply-adds"))
        rows = []
        for i, line in enumerate(self._lines()):
            style = ' style="font-weight:bold;border-top:1px solid"' if i == len(self.rows) else ""
            cells = "".join(
                f'<td style="text-align:{"right" if j >= 3 else "left"}">{html.escape(c)}</td>'
                for j, c in enumerate(line)
            )
            rows.append(f"<tr{style}>{cells}</tr>")
        caption = f"{html.escape(self.model)}, input {'x'.join(map(str, self.input_shape))}"
        return (
            f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def _mult_adds_by_module(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    root = type(model).__name__
    out = {}
    for key, ops in counter.get_flop_counts().items():
        if key == "Global":
            out[""] = sum(ops.values()) // 2
        elif key == root:
            continue
        else:
            out[key[len(root) + 1 :] if key.startswith(root + ".") else key] = sum(ops.values()) // 2
    return out


def count_mult_adds(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-adds of one forward pass on one image of ``input_shape`` (C x H x W)."""
    device = next(model.parameters()).device
    with eval_mode(model):
        return _mult_adds_by_module(model, torch.zeros((1, *input_shape), device=device))[""]


def layer_table(
    model: nn.Module, input_shape: tuple[int, ...], leaves_only: bool = True, depth: int = 10
) -> LayerTable:
    """The per-layer table of ``model`` for one image of ``input_shape`` (C x H x W).

    ``leaves_only=False`` also lists container modules (blocks, stages); ``depth`` limits how many
    levels of nesting are listed (``depth=1``: only the model's direct children).
    """
    device = next(model.parameters()).device
    x = torch.zeros((1, *input_shape), device=device)
    with eval_mode(model):
        stats = torchinfo.summary(model, input_data=x, verbose=0, depth=depth)
        macs = _mult_adds_by_module(model, x)
    names = {id(m): n for n, m in model.named_modules()}
    rows = []
    seen: set[int] = set()
    for info in stats.summary_list:
        module = info.module
        name = names.get(id(module), "")
        if not name or id(module) in seen:
            continue
        if leaves_only and not info.is_leaf_layer:
            continue
        if name.count(".") >= depth:
            continue
        seen.add(id(module))
        shape = tuple(info.output_size[1:]) if info.output_size else ()
        params = sum(p.numel() for p in module.parameters())
        rows.append(LayerRow(name, type(module).__name__, shape, params, macs.get(name, 0)))
    return LayerTable(type(model).__name__, tuple(input_shape), tuple(rows), count_parameters(model), macs[""])


def median_seconds(fn, warmup: int = 3, repeats: int = 10) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` untimed runs.

    Calls :func:`cnnlib.runtime.reuse_freed_memory` first, so that the kernel's page handling is not timed.
    """
    import statistics
    import time

    reuse_freed_memory()
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_latency(
    model: nn.Module, input_shape: tuple[int, ...], batch_size: int = 1, warmup: int = 3, repeats: int = 10
) -> float:
    """Median milliseconds of one float32 eval-mode forward pass of a batch of ``batch_size`` images.

    Measured on the device the model is on, with gradients off; the model is left in eval mode.
    """
    device = next(model.parameters()).device
    model.eval()
    x = torch.randn((batch_size, *input_shape), device=device)

    def run() -> None:
        with torch.inference_mode():
            model(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return 1000 * median_seconds(run, warmup, repeats)
