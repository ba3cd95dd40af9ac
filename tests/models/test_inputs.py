"""Wrong inputs get a clear error, from one table: what is wrong and what to do, not a shape error deep inside.

Each row names a registered model, its builder arguments, the input's shape (``None``: building the
model already fails) and the error it must raise. Every model checks its input with
``cnnlib.models._checks.check_input`` before any layer runs, so the models are built on the meta
device: no memory, no initialisation time, and the check is all that runs.
"""

from __future__ import annotations

import pytest
import torch

from cnnlib.models import UnknownModelError, build_on_meta

WRONG_INPUTS = [
    # name, builder kwargs, input shape (None: the builder refuses), error, message (a regular expression)
    # --- names and builder arguments
    ("lenet", {}, None, UnknownModelError, r"Unknown model 'lenet'.*Did you mean 'lenet5'"),
    ("no-such-model", {}, None, KeyError, "Unknown model"),  # also a KeyError, for code that catches that
    ("mobilenet_v2_cifar", {"width": 0}, None, ValueError, "width must be positive, got 0"),
    ("vgg11_bn_cifar", {"width": -0.5}, None, ValueError, "width must be positive"),
    ("repvgg_a0_cifar", {"width": -1}, None, ValueError, "width must be positive"),
    ("mobilenet_v2_cifar", {"width": 0.5, "width_mult": 0.5}, None, TypeError, "width_mult is the old name of width"),
    ("shufflenet_v2_cifar", {"width": 0.75}, None, ValueError, r"widths of its Table 5, \[0.5, 1.0, 1.5, 2.0\]"),
    ("densenet_bc_cifar", {"depth": 41}, None, ValueError, r"6n \+ 4"),
    ("vgg11_bn_cifar", {"head": "imagenet"}, None, ValueError, "a CIFAR VGG's head is 'cifar'"),
    ("resnet110_stochastic_depth", {"stochastic_depth_prob": 1.5}, None, ValueError, r"p must be in \[0, 1\]"),
    ("resnet20", {"no_such_option": 1}, None, TypeError, "no_such_option"),
    # --- the batch dimension
    ("lenet5", {}, (1, 32, 32), ValueError, "batch of images shaped N x C x H x W"),
    ("alexnet", {}, (3, 224, 224), ValueError, "batch of images shaped N x C x H x W"),
    ("mobilenet_v3_small", {}, (3, 64, 64), ValueError, "batch of images shaped N x C x H x W"),
    ("inception_v3", {}, (3, 75, 75), ValueError, "batch of images shaped N x C x H x W"),
    ("resnet18", {}, (3, 64, 64), ValueError, "batch of images shaped N x C x H x W"),
    ("repvgg_a0_cifar", {}, (3, 32, 32), ValueError, "batch of images shaped N x C x H x W"),
    *((name, {}, (3, 32, 32), ValueError, "N x C x H x W") for name in (
        "densenet121", "densenet_bc100", "xception", "xception_cifar", "squeezenet1_1", "squeezenet_cifar",
        "sqnxt23_1x", "sqnxt23_1x_cifar",
    )),
    # --- channels
    ("lenet5", {}, (1, 3, 32, 32), ValueError, "built for 1-channel input; got 3 channels"),
    ("resnet20", {}, (1, 1, 32, 32), ValueError, "built for 3-channel input"),
    ("alexnet_paper", {}, (1, 1, 227, 227), ValueError, "built for 3-channel input; got 1 channels"),
    ("vgg11_bn_cifar", {}, (1, 1, 32, 32), ValueError, "built for 3-channel input"),
    ("nin_cifar", {}, (1, 4, 32, 32), ValueError, "built for 3-channel input; got 4 channels"),
    ("mobilenet_v2", {}, (1, 1, 64, 64), ValueError, "built for 3-channel input; got 1 channels"),
    ("efficientnet_b0", {}, (1, 4, 224, 224), ValueError, "built for 3-channel input; got 4 channels"),
    ("googlenet", {}, (1, 1, 64, 64), ValueError, "built for 3-channel input; got 1 channels"),
    ("inception_v4", {}, (1, 4, 75, 75), ValueError, "built for 3-channel input"),
    ("resnet18", {}, (1, 1, 64, 64), ValueError, "built for 3-channel input; got 1 channels"),
    ("preact_resnet164", {}, (1, 1, 32, 32), ValueError, "built for 3-channel input"),
    ("highway19", {}, (1, 1, 32, 32), ValueError, "built for 3-channel input"),
    ("repvgg_a0", {}, (1, 1, 64, 64), ValueError, "built for 3-channel input; got 1 channels"),
    ("repvgg_a0_cifar", {"in_channels": 1}, (1, 3, 32, 32), ValueError, "built for 1-channel input"),
    ("resnet20", {"in_channels": 1}, (1, 3, 32, 32), ValueError, "built for 1-channel input; got 3 channels"),
    *((name, {}, (1, 1, 32, 32), ValueError, "built for 3-channel input; got 1 channels") for name in (
        "densenet121", "densenet_bc100", "xception", "xception_cifar", "squeezenet1_1", "squeezenet_cifar",
        "sqnxt23_1x", "sqnxt23_1x_cifar",
    )),
    # --- a fully connected part that fixes the input size
    ("lenet5", {}, (1, 1, 28, 28), ValueError, "expects 32x32 images; got 28x28"),
    ("alexnet_paper", {}, (1, 3, 224, 224), ValueError, "expects 227x227 images; got 224x224"),
    ("zfnet", {}, (1, 3, 227, 227), ValueError, "expects 224x224 images; got 227x227"),
    ("alexnet_cifar", {}, (1, 3, 28, 28), ValueError, "expects 32x32 images; got 28x28"),
    ("zfnet_cifar", {}, (1, 3, 16, 16), ValueError, "expects 32x32 images; got 16x16"),
    # --- too small for the downsampling: one pixel below each model's minimum
    ("resnet20", {}, (1, 3, 2, 2), ValueError, "needs at least 4x4"),
    ("resnet110_stochastic_depth", {}, (1, 3, 2, 2), ValueError, "needs at least 4x4"),
    ("resnet18", {}, (1, 3, 16, 16), ValueError, "needs at least 32x32"),
    ("alexnet", {}, (1, 3, 62, 62), ValueError, "needs at least 63x63"),
    ("vgg16", {}, (1, 3, 16, 16), ValueError, "needs at least 32x32"),
    ("nin_imagenet", {}, (1, 3, 38, 38), ValueError, "needs at least 39x39"),
    ("mobilenet_v2", {}, (1, 3, 16, 16), ValueError, "needs at least 32x32"),
    ("mobilenet_v1_cifar", {}, (1, 3, 8, 8), ValueError, "needs at least 16x16"),
    ("shufflenet_v1_g3", {}, (1, 3, 16, 16), ValueError, "needs at least 32x32"),
    ("shufflenet_v1_g3_cifar", {}, (1, 3, 7, 7), ValueError, "needs at least 8x8"),
    ("shufflenet_v2_cifar", {}, (1, 3, 4, 4), ValueError, "needs at least 8x8"),
    ("efficientnet_b0_cifar", {}, (1, 3, 4, 4), ValueError, "needs at least 8x8"),
    ("googlenet", {}, (1, 3, 14, 14), ValueError, "needs at least 15x15"),
    ("googlenet_paper", {}, (1, 3, 30, 30), ValueError, "needs at least 31x31"),
    ("googlenet_cifar", {}, (1, 3, 3, 3), ValueError, "needs at least 4x4"),
    ("inception_small_cifar", {}, (1, 3, 6, 6), ValueError, "needs at least 7x7"),
    ("inception_v3", {}, (1, 3, 74, 74), ValueError, "needs at least 75x75"),
    ("inception_v3", {"aux_logits": True}, (1, 3, 200, 200), ValueError, "needs at least 299x299"),  # training mode
    ("inception_v4", {}, (1, 3, 74, 74), ValueError, "needs at least 75x75"),
    ("inception_resnet_v2", {}, (1, 3, 74, 74), ValueError, "needs at least 75x75"),
    *((name, {}, (1, 3, 6, 6), ValueError, "at least 7x7")
      for name in ("inception_v3_cifar", "inception_v4_cifar", "inception_resnet_v2_cifar")),
    ("repvgg_a0", {}, (1, 3, 16, 16), ValueError, "needs at least 32x32"),
    ("repvgg_a0", {"deploy": True}, (1, 3, 16, 16), ValueError, "needs at least 32x32"),
    ("repvgg_a0_cifar", {}, (1, 3, 4, 4), ValueError, "needs at least 8x8"),
    *((name, {}, (1, 3, size - 1, size - 1), ValueError, f"needs at least {size}x{size}") for name, size in {
        "densenet121": 29, "densenet_bc100": 4, "xception": 7, "squeezenet1_0": 21, "squeezenet1_1": 17,
        "squeezenet_cifar": 8, "sqnxt23_1x": 7,
    }.items()),
]  # fmt: skip


def _id(row: tuple) -> str:
    name, kwargs, shape, error, _ = row
    args = ",".join(f"{k}={v}" for k, v in kwargs.items())
    return f"{name}({args})-" + ("build" if shape is None else "x".join(map(str, shape)))


@pytest.mark.parametrize("name, kwargs, shape, error, message", WRONG_INPUTS, ids=[_id(r) for r in WRONG_INPUTS])
def test_wrong_input_gives_a_clear_error(name, kwargs, shape, error, message):
    if shape is None:
        with pytest.raises(error, match=message):
            build_on_meta(name, **kwargs)
        return
    model = build_on_meta(name, **kwargs)
    with pytest.raises(error, match=message):
        model(torch.zeros(shape, device="meta"))
