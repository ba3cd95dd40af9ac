"""Checkers for chapter 01 (LeNet-5).

Each checker takes the student's answer, raises ``AssertionError`` with a hint
when it is wrong, and prints what was verified when it is right. The reference
answers come from PyTorch itself (a real layer, a real model), never from a
second hand-written formula.
"""

from __future__ import annotations

import itertools
from typing import Callable, Mapping

import torch
import torch.nn as nn

from ...analysis.activations import forward_hooks
from ...analysis.summary import layer_table
from ...models import get_model
from .. import passed as _passed

__all__ = ["check_conv_output_size", "check_lenet_parameter_counts", "check_lenet28", "colour_lenet_small_c5"]


def check_conv_output_size(fn: Callable[..., int]) -> bool:
    """Exercise 01.1: ``fn(size, kernel, stride=1, padding=0)`` must give the output size of ``nn.Conv2d``/pooling."""
    cases = [
        c
        for c in itertools.product([5, 28, 32, 227], [1, 2, 3, 5, 11], [1, 2, 4], [0, 1, 2])
        if c[1] <= c[0] + 2 * c[3]
    ]
    for size, k, s, p in cases:
        expected = nn.Conv2d(1, 1, k, stride=s, padding=p)(torch.zeros(1, 1, size, size)).shape[-1]
        got = fn(size, k, stride=s, padding=p)
        assert got == expected, (
            f"size={size}, kernel={k}, stride={s}, padding={p}: nn.Conv2d gives {expected}, your function {got}. "
            "Hint: count how many positions the kernel can take along the padded side, stepping by the stride."
        )
    return _passed(f"{len(cases)} combinations of size, kernel, stride and padding agree with nn.Conv2d")


def colour_lenet_small_c5() -> nn.Module:
    """Exercise 01.2's network: LeNet-5 for 3-channel 32x32 images (CIFAR-10) whose C5 has 3x3 kernels, so
    that C5 outputs 120@3x3 and F6 reads the 1,080 flattened values. Built from the real LeNet5's layers."""
    lenet = get_model("lenet5", in_channels=3)
    features = list(lenet.features)
    features[6] = nn.Conv2d(16, 120, kernel_size=3)  # C5: 5x5 -> 3x3 kernels
    return nn.Sequential(
        *features, nn.Flatten(), nn.Linear(120 * 3 * 3, 84), nn.Tanh(), nn.Linear(84, 10)
    )  # indices: C1 0, C3 3, C5 6, F6 9, output 11


def check_lenet_parameter_counts(answer: Mapping[str, int]) -> bool:
    """Exercise 01.2: parameters of C1, C3, C5, F6 and the output layer of :func:`colour_lenet_small_c5` (a
    LeNet-5 for colour images with a 3x3 C5), counted by hand."""
    table = layer_table(colour_lenet_small_c5(), (3, 32, 32))
    truth = {"C1": table["0"].params, "C3": table["3"].params, "C5": table["6"].params}
    truth |= {"F6": table["9"].params, "output": table["11"].params}
    missing = sorted(set(truth) - set(answer))
    assert not missing, f"give a count for every layer; missing {missing}"
    for layer, expected in truth.items():
        assert answer[layer] == expected, (
            f"{layer}: you have {answer[layer]:,}, the network has {expected:,}. Hint: a convolution has "
            "(input channels x kernel area + 1 bias) x output channels; a dense layer (inputs + 1) x outputs; "
            "C5's output is no longer 1x1."
        )
    assert sum(answer[k] for k in truth) == table.total_params
    return _passed("all five layers of the colour LeNet-5 with a 3x3 C5 are counted right")


def check_lenet28(model: nn.Module) -> bool:
    """Exercise 01.3: a LeNet-5 that takes MNIST's 28x28 digits directly and keeps LeNet-5's shapes after C1."""
    x = torch.randn(2, 1, 28, 28)
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, 10), f"output shape {tuple(out.shape)}, expected (2, 10) for a batch of two digits"
    n = sum(p.numel() for p in model.parameters())
    assert n == 61_706, f"{n:,} parameters; LeNet-5 has 61,706 (does padding add or remove any weight?)"
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs, "no nn.Conv2d found: build the network from convolutions"
    shapes = []
    with forward_hooks({convs[0]: lambda m, i, o: shapes.append(tuple(o.shape[1:]))}), torch.no_grad():
        model(x)
    assert shapes[0] == (6, 28, 28), (
        f"C1 outputs {shapes[0]}; LeNet-5's C1 outputs 6@28x28 (pad the convolution, not the image)"
    )
    return _passed("28x28 input, 10 outputs, 61,706 parameters, C1 is 6@28x28 as in the original")
