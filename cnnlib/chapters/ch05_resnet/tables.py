"""Chapter 05's tables: the ResNet family counted from cnnlib beside torchvision and the papers, and the
published CIFAR-10 figures that the zoo's checkpoints stand beside.

Sources (``../shared/REFERENCES.md``): He, Zhang, Ren, Sun, *Deep Residual Learning for Image
Recognition*, CVPR 2016 (arXiv 1512.03385), Table 1 (FLOPs), Table 3 (shortcut options) and
Table 6 (CIFAR-10); He, Zhang, Ren, Sun, *Identity Mappings in Deep Residual Networks*, ECCV 2016
(arXiv 1603.05027), Tables 3 and 4 (pre-activation, CIFAR-10).
"""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from ...analysis.summary import count_mult_adds, count_parameters
from ...models import build_on_meta
from ...models.resnet import BasicBlock, Bottleneck, make_shortcut
from ...pretrained import published_figures
from ...zoo import read_log

__all__ = [
    "HE_CIFAR_TABLE6",
    "HE_IMAGENET_GFLOPS",
    "HE_SHORTCUT_OPTIONS",
    "PREACT_CIFAR10",
    "block_costs",
    "resnet_family_table",
    "shortcut_costs",
    "weight_layer_count",
    "zoo_cifar_rows",
]

# Table 6: depth -> (parameters in millions, CIFAR-10 test error %); 110 layers: best of 5 runs (mean 6.61 +- 0.16)
HE_CIFAR_TABLE6: dict[int, tuple[float, float]] = {
    20: (0.27, 8.75),
    32: (0.46, 7.51),
    44: (0.66, 7.17),
    56: (0.85, 6.97),
    110: (1.7, 6.43),
    1202: (19.4, 7.93),
}
# Table 1, last row: FLOPs (multiply-adds, x 10^9) of one 224 x 224 image
HE_IMAGENET_GFLOPS: dict[int, float] = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}
# Table 3: ResNet-34 on ImageNet, top-1 / top-5 error (%, 10-crop) for the three shortcut options
HE_SHORTCUT_OPTIONS: dict[str, tuple[float, float]] = {
    "A: zero-padding where the shape changes": (25.03, 7.76),
    "B: projection where the shape changes": (24.52, 7.46),
    "C: projection everywhere": (24.19, 7.40),
}
# Identity Mappings, Tables 3 and 4: CIFAR-10 test error (%), original (post-activation) unit -> pre-activation unit
PREACT_CIFAR10: dict[str, tuple[float, float]] = {
    "ResNet-110": (6.61, 6.37),
    "ResNet-164": (5.93, 5.46),
    "ResNet-1001": (7.61, 4.92),
}


def weight_layer_count(model: nn.Module) -> int:
    """Convolutions and linear layers on the main path: the paper's "layers" (shortcut projections not counted)."""
    return sum(
        isinstance(m, (nn.Conv2d, nn.Linear)) and "downsample" not in name and "shortcut" not in name
        for name, m in model.named_modules()
    )


def resnet_family_table(depths: tuple[int, ...] = (18, 34, 50, 101, 152)) -> list[dict[str, Any]]:
    """One row per ImageNet ResNet: counted on cnnlib's model (meta device) beside torchvision and Table 1.

    Row keys: ``name``, ``layers`` (weight layers counted), ``params``, ``gmacs`` (multiply-adds of
    one 224 x 224 image, billions), ``tv_params`` and ``tv_gflops`` (torchvision's documented
    figures for its V1 weights; its "GFLOPS" are multiply-adds), ``paper_gflops`` (Table 1).
    """
    rows = []
    for depth in depths:
        name = f"resnet{depth}"
        model = build_on_meta(name)
        tv = published_figures(name)
        rows.append(
            {
                "name": name,
                "layers": weight_layer_count(model),
                "params": count_parameters(model),
                "gmacs": count_mult_adds(model, (3, 224, 224)) / 1e9,
                "tv_params": tv["params"],
                "tv_gflops": tv["gflops"],
                "paper_gflops": HE_IMAGENET_GFLOPS[depth],
            }
        )
    return rows


def block_costs() -> dict[str, dict[str, int]]:
    """Parameters and multiply-adds on a 56 x 56 map of Fig. 5's two blocks (cnnlib's, with BN).

    The basic block works on 64 channels, the bottleneck on 256 (reduced to 64 inside):
    the paper's point is that they cost about the same.
    """
    blocks = {"basic (64-d)": (BasicBlock(64, 64), 64), "bottleneck (256-d)": (Bottleneck(256, 64), 256)}
    return {
        name: {"params": count_parameters(block), "mult_adds": count_mult_adds(block, (channels, 56, 56))}
        for name, (block, channels) in blocks.items()
    }


def shortcut_costs() -> dict[str, dict[str, int]]:
    """Parameters of the shortcut where ResNet-34's stage 3 begins (128 -> 256 channels, stride 2),
    and of whole networks built with each option (ResNet-20 for CIFAR; ResNet-34 for ImageNet)."""
    out = {}
    for option in ("A", "B"):
        shortcut = make_shortcut(128, 256, stride=2, option=option)
        out[option] = {
            "shortcut_params": count_parameters(shortcut),
            "resnet20_params": count_parameters(build_on_meta("resnet20", shortcut=option)),
        }
    return out


def zoo_cifar_rows(names: tuple[str, ...] = ("resnet20", "resnet56", "preact_resnet20")) -> list[dict[str, Any]]:
    """The zoo's CIFAR-10 ResNets from their logs: parameters, epochs, test error (%) of the stored weights,
    and Table 6's figures for the same depth (``None`` for a depth or a variant the table lacks)."""
    rows = []
    for name in names:
        log = read_log(name)
        depth = int(name.rsplit("resnet", 1)[1])
        paper = HE_CIFAR_TABLE6.get(depth) if name.startswith("resnet") else None
        rows.append(
            {
                "name": name,
                "params": None if log is None else log["parameters"],
                "epochs": None if log is None else len(log["epochs"]),
                "test_error": None if log is None else 100 * (1 - log["stored"]["test_acc"]),
                "paper_params_m": None if paper is None else paper[0],
                "paper_error": None if paper is None else paper[1],
            }
        )
    return rows
