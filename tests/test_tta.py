"""Ten-crop test-time augmentation: views, invariances and the uint8 pipeline."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from cnnlib.analysis.tta import (
    VIEW_NAMES,
    flip_predict,
    ten_crop_logits,
    ten_crop_outputs,
    ten_crop_predict,
    ten_crop_views,
)
from cnnlib.data import DATASETS, ImageTensors, normalize
from cnnlib.testing import accumulated_terms, assert_close_up_to_rounding


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)).eval()


def test_views_shape_order_and_torchvision():
    x = torch.rand(3, 3, 8, 8)
    views = ten_crop_views(x, padding=2)
    assert views.shape == (10, 3, 3, 8, 8) and len(VIEW_NAMES) == 10
    expected = TF.ten_crop(F.pad(x, (2,) * 4), [8, 8])  # torchvision's ten-crop of the padded image
    for ours, theirs in zip(views, expected):
        assert torch.equal(ours, theirs)
    assert torch.equal(views[4], x)  # the centre view of the padded image is the image itself
    assert torch.equal(views[9], x.flip(-1)) and torch.equal(
        views[6], views[0].flip(-1)
    )  # mirror top-right = mirrored top-left
    assert (
        torch.equal(views[0][..., 2:, 2:], x[..., :6, :6]) and views[0][..., :2, :].abs().sum() == 0
    )  # top-left: black border


def test_odd_margins_follow_torchvision_rounding():
    x = torch.rand(1, 3, 9, 9)
    for crop in (6, 7):
        for ours, theirs in zip(ten_crop_views(x, padding=0, crop=crop), TF.ten_crop(x, [crop, crop])):
            assert torch.equal(ours, theirs)


def test_average_is_invariant_to_mirroring_the_input():
    model, x = tiny_model(), torch.rand(4, 3, 8, 8)
    # the same ten views in another order: the model's rounding, softmax's sum over 5 classes, the mean over 10 views
    terms = accumulated_terms(model) + 5 + 10
    for average in ("logits", "softmax"):
        assert_close_up_to_rounding(
            ten_crop_logits(model, x, 2, average),
            ten_crop_logits(model, x.flip(-1), 2, average),
            terms=terms,
            what=f"ten-crop {average} average of an image and of its mirror image",
        )
    # the model alone is not: mirroring moves its logits by ~0.1 (their size), atol 1e-3 is far above rounding
    assert not torch.allclose(model(x), model(x.flip(-1)), atol=1e-3)


def test_a_model_that_ignores_position_gains_nothing():
    """Global average pooling + linear is blind to position and, with no padding, all views hold the same pixels."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 5)).eval()
    x = torch.rand(4, 3, 8, 8)
    # the views are the image and its mirror: rounding of the 8 x 8 average (summed in another order), the
    # linear layer and the mean over 10 views
    terms = 8 * 8 + accumulated_terms(model) + 10
    assert_close_up_to_rounding(
        ten_crop_logits(model, x, padding=0), model(x), terms=terms, what="ten-crop average and the model"
    )
    # black borders change the mean: by ~0.2 (logits ~0.8), atol 1e-4 is far above rounding
    assert not torch.allclose(ten_crop_logits(model, x, padding=2), model(x), atol=1e-4)


def test_uint8_pipeline_pads_black_before_normalising():
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8, generator=gen)
    spec = DATASETS["cifar10"]
    ds = ImageTensors(images, torch.zeros(5, dtype=torch.long), spec, "test", "synthetic")
    model = tiny_model()
    outputs = ten_crop_outputs(model, ds, padding=2, batch_size=2)
    assert outputs.shape == (10, 5, 5)
    manual = model(normalize(ten_crop_views(images, 2).flatten(0, 1), spec.mean, spec.std)).unflatten(0, (10, 5))
    # batches of 2 against one batch of 50 may run other kernels: the model's rounding (plus softmax's sum over
    # 5 classes and the mean over 10 views for the averages)
    terms = accumulated_terms(model)
    assert_close_up_to_rounding(outputs, manual, terms=terms, what="ten_crop_outputs and the views run by hand")
    assert_close_up_to_rounding(
        ten_crop_predict(model, ds, padding=2),
        manual.mean(0),
        terms=terms + 10,
        what="ten_crop_predict and the mean by hand",
    )
    assert_close_up_to_rounding(
        ten_crop_predict(model, ds, padding=2, average="softmax").exp(),
        manual.softmax(-1).mean(0),
        terms=terms + 5 + 10,
        what="ten_crop_predict (softmax) and the mean probability by hand",
    )


def test_flip_predict_is_the_mean_of_the_two_centre_views():
    gen = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8, generator=gen)
    ds = ImageTensors(images, torch.zeros(5, dtype=torch.long), DATASETS["cifar10"], "test", "synthetic")
    model = tiny_model()
    views = ten_crop_outputs(model, ds, padding=2)
    centre, mirror = VIEW_NAMES.index("centre"), VIEW_NAMES.index("mirror centre")
    assert_close_up_to_rounding(
        flip_predict(model, ds, batch_size=2),
        (views[centre] + views[mirror]) / 2,
        terms=accumulated_terms(model) + 2,
        what="flip_predict and the centre view averaged with its mirror",
    )
    with pytest.raises(ValueError, match="average"):
        flip_predict(model, ds, average="max")


def test_bad_arguments_are_refused():
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match="N x C x H x W"):
        ten_crop_views(x[0])
    with pytest.raises(ValueError, match="does not fit"):
        ten_crop_views(x, padding=0, crop=9)
    with pytest.raises(ValueError, match="average"):
        ten_crop_logits(tiny_model(), x, average="mean")
