"""Checkers for chapter 03 (VGG)."""

from __future__ import annotations

import random
from typing import Callable, Mapping, Sequence

import torch
import torch.nn as nn

from ...analysis.receptive_field import LayerSpec, receptive_field
from ...analysis.summary import count_parameters
from ...models import build_on_meta
from ...models.vgg import cfgs
from .. import passed as _passed

__all__ = ["check_receptive_field_size", "check_vgg_block", "check_vgg16_classifier_counts", "vgg16_cifar_flatten_head"]


def check_receptive_field_size(fn: Callable[[Sequence[tuple[int, int]]], int]) -> bool:
    """Exercise 03.1: ``fn([(kernel, stride), ...])`` must give the receptive field of the last layer's units."""
    rng = random.Random(0)
    cases: list[list[tuple[int, int]]] = [
        [(3, 1)],
        [(3, 1)] * 2,
        [(3, 1)] * 3,
        [(5, 1)],
        [(7, 1)],
        [(2, 2)],
        [(3, 1), (2, 2), (3, 1)],
        [(11, 4), (3, 2), (5, 1)],
    ]
    for _ in range(40):
        cases.append([(rng.choice([1, 2, 3, 5, 7]), rng.choice([1, 1, 2])) for _ in range(rng.randint(1, 8))])
    for layers in cases:
        expected = receptive_field([LayerSpec(k, s) for k, s in layers])[-1].size
        got = fn(list(layers))
        assert got == expected, (
            f"layers (kernel, stride) = {layers}: the receptive field is {expected}, your function gives {got}. "
            "Hint: each layer adds (kernel - 1) x jump pixels, where jump is the product of the strides of the "
            "layers before it."
        )
    return _passed(
        f"{len(cases)} stacks of (kernel, stride) layers, including VGG's 3×3 cascades and AlexNet's first layers"
    )


def check_vgg_block(fn: Callable[[int, int, int], nn.Module]) -> bool:
    """Exercise 03.2: ``fn(in_channels, out_channels, num_convs)`` -> one VGG stage (convs + ReLUs, then a 2x2
    max pool)."""
    for c_in, c_out, n in [(3, 64, 2), (64, 128, 1), (128, 256, 3), (3, 8, 4)]:
        block = fn(c_in, c_out, n)
        assert isinstance(block, nn.Module), (
            f"fn({c_in}, {c_out}, {n}) returned {type(block).__name__}, not an nn.Module"
        )
        convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
        assert len(convs) == n, f"fn({c_in}, {c_out}, {n}) has {len(convs)} convolutions; a stage has num_convs = {n}"
        assert all(m.kernel_size == (3, 3) for m in convs), "VGG's convolutions are all 3×3"
        relus = [m for m in block.modules() if isinstance(m, nn.ReLU)]
        assert len(relus) == n, f"{len(relus)} ReLUs for {n} convolutions: each convolution is followed by its own ReLU"
        expected = c_in * c_out * 9 + (n - 1) * c_out * c_out * 9 + n * c_out  # weights + biases
        got = count_parameters(block)
        assert got == expected, (
            f"fn({c_in}, {c_out}, {n}) has {got:,} parameters, expected {expected:,} (3×3 kernels with biases)"
        )
        x = torch.randn(2, c_in, 16, 16)
        with torch.no_grad():
            y = block.eval()(x)
        assert y.shape == (2, c_out, 8, 8), (
            f"a 2×{c_in}×16×16 input gives {tuple(y.shape)}, expected (2, {c_out}, 8, 8): "
            "pad the convolutions by 1 so only the pool halves the size"
        )
    # The stages of configuration D, chained, have exactly the parameters of VGG-16's convolutional part.
    stages, c_in, n = [], 3, 0
    for v in cfgs["D"] + ["END"]:
        if v == "M":
            stages.append(fn(c_in, c_out, n))
            c_in, n = c_out, 0
        elif v != "END":
            c_out, n = v, n + 1
    vgg16 = build_on_meta("vgg16")
    assert sum(count_parameters(s) for s in stages) == count_parameters(vgg16.features), (
        "stacked for configuration D, your stages should match VGG-16's features"
    )
    return _passed(
        "shapes, 3×3 kernels, one ReLU per convolution, and the five stages of configuration D have VGG-16's "
        f"{count_parameters(vgg16.features):,} convolutional parameters"
    )


def vgg16_cifar_flatten_head() -> nn.Module:
    """Exercise 03.3's network, on the meta device: VGG-16 for CIFAR-10's 32x32 images and 10 classes that keeps
    the flatten head. After five pools a 32x32 image is a 512@1x1 map, so FC6 reads 512 values (the adaptive
    pool to 7x7, which lets the ImageNet model take any size, is dropped)."""
    model = build_on_meta("vgg16")
    with torch.device("meta"):
        model.avgpool = nn.Identity()
        model.classifier[0] = nn.Linear(512, 4096)
        model.classifier[6] = nn.Linear(4096, 10)
    return model


def check_vgg16_classifier_counts(answer: Mapping[str, int]) -> bool:
    """Exercise 03.3: parameters of FC6, FC7, FC8 of :func:`vgg16_cifar_flatten_head` and their share of it."""
    model = vgg16_cifar_flatten_head()
    truth = {
        "FC6": count_parameters(model.classifier[0]),
        "FC7": count_parameters(model.classifier[3]),
        "FC8": count_parameters(model.classifier[6]),
    }
    missing = sorted(set(truth) - set(answer))
    assert not missing, f"give a count for every layer; missing {missing}"
    for layer, expected in truth.items():
        assert answer[layer] == expected, (
            f"{layer}: you have {answer[layer]:,}, the model has {expected:,}. "
            "Hint: a dense layer has (inputs + 1) x outputs; after five 2x2 pools a 32x32 image is 1x1, "
            "so FC6 sees 512 values, and FC8 has 10 outputs."
        )
    share = sum(truth.values()) / count_parameters(model)
    if "share" in answer:
        assert abs(answer["share"] - share) < 0.005, (
            f"share: you have {answer['share']:.3f}; the FC layers hold a different share of this network"
        )
    return _passed("FC6, FC7, FC8" + (" and their share" if "share" in answer else "") + " of the 32x32 VGG-16")
