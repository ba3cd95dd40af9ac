"""Experiments of chapter 03 (VGG), registered with :func:`cnnlib.experiments.experiment`
(``python -m cnnlib.experiments run NAME`` runs one and stores its result; see :mod:`cnnlib.experiments`).

``vgg_heads``     one linear layer is enough at the end: a narrow VGG-11-BN on CIFAR-10 with the
                  paper's three-FC head vs global average pooling + one linear layer, same recipe.
``vgg_transfer``  ImageNet features transfer: a frozen pretrained MobileNetV2 + linear probe on the
                  Imagenette slice, vs a small VGG trained from scratch on the same 1,000 images.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from ...experiments import experiment

# The recipe both heads share (a short version of the zoo's CIFAR recipe; the paper's ImageNet
# recipe -- batch 256, lr 0.01 divided by 10 on plateaus, 74 epochs -- is far beyond this budget).
HEADS_WIDTH = 0.25  # VGG-11-BN at a quarter of the paper's channels: 16-32-64-64-128-128-128-128
HEADS_TRAIN_IMAGES = 10_000  # a fixed subset of CIFAR-10's 50,000 training images
HEADS_EVAL_IMAGES = 2_000  # a fixed subset of the test set for the per-epoch curve (final: all 10,000)
HEADS_EPOCHS = 10

TRANSFER_VAL_IMAGES = 500  # a fixed subset of the 3,925 Imagenette validation images
SCRATCH_SIZE = 64  # px: the from-scratch net trains on 64 x 64 copies of the photos (budget)
SCRATCH_EPOCHS = 20
SCRATCH_WIDTH = 0.25
SHOTS = (1, 2, 5, 10, 20, 50, 100)  # training images per class for the probe's learning curve


def _config(quick: bool, epochs: int, batch_size: int):
    """The recipe both experiments share (SGD, one-cycle, crops + flips); a quick run is one fp32 epoch."""
    from ...train import TrainConfig

    return TrainConfig(
        epochs=1 if quick else epochs, batch_size=batch_size, lr=0.05, momentum=0.9, weight_decay=5e-4,
        schedule="onecycle", crop_padding=4, flip=True, seed=0,
        precision="fp32" if quick else "auto", channels_last=False if quick else None,
    )  # fmt: skip


@experiment(
    "vgg_heads",
    description="VGG-11-BN (width 0.25) on CIFAR-10: three-FC head vs global average pooling + one linear layer",
)
def vgg_heads(quick: bool = False) -> dict[str, Any]:
    from ... import data
    from ...analysis.summary import count_mult_adds, count_parameters
    from ...models import get_model
    from ...train import evaluate, fit

    train = data.load("cifar10", "train").subset(64 if quick else HEADS_TRAIN_IMAGES, seed=0)
    test = data.load("cifar10", "test")
    curve_test = test.subset(64 if quick else HEADS_EVAL_IMAGES, seed=0)
    final_test = curve_test if quick else test
    config = _config(quick, HEADS_EPOCHS, 128)
    runs: dict[str, Any] = {}
    for head, label in (("fc", "3 FC layers (paper)"), ("cifar", "GAP + 1 linear")):
        model = get_model("vgg11_bn_cifar", width=HEADS_WIDTH, head=head)
        params = count_parameters(model)
        head_params = count_parameters(model.classifier)
        history = fit(model, train, curve_test, config, device="cpu", progress=False)
        final = evaluate(model, final_test)
        runs[head] = {
            "label": label,
            "params": params,
            "head_params": head_params,
            "mult_adds": count_mult_adds(model, (3, 32, 32)),
            "test_acc": final["acc"],
            "test_images": len(final_test),
            "final_train_acc": history["epochs"][-1]["train_acc"],
            "train_seconds": history["train_seconds"],
            "speed": history["speed"],
            "epochs": history["epochs"],
        }
    return {
        "model": "vgg11_bn_cifar",
        "width": HEADS_WIDTH,
        "hidden": get_model("vgg11_bn_cifar", width=HEADS_WIDTH, head="fc").classifier[0].out_features,
        "train_images": len(train),
        "curve_test_images": len(curve_test),
        "config": history["config"],
        "data_source": history["data_source"],
        "runs": runs,
    }


@experiment(
    "vgg_transfer",
    description=(
        "Imagenette, 1,000 training photos: frozen ImageNet MobileNetV2 + linear probe vs a small VGG from scratch"
    ),
)
def vgg_transfer(quick: bool = False) -> dict[str, Any]:
    from ... import data
    from ...analysis.summary import count_parameters
    from ...analysis.transfer import extract_features, fit_linear_probe, probe_accuracy, resize_images
    from ...data import IMAGENETTE_IMAGENET_INDEX
    from ...models import get_model
    from ...pretrained import from_torchvision
    from ...train import evaluate, fit

    train = data.load("imagenette", "train")
    val = data.load("imagenette", "val").subset(10 if quick else TRANSFER_VAL_IMAGES, seed=0)
    if quick:
        train = train.subset(10, seed=0)
    result: dict[str, Any] = {
        "train_images": len(train),
        "val_images": len(val),
        "data_source": {"train": train.source, "val": val.source},
    }

    # 1. Pretrained features, extracted once; a linear probe on them.
    # Online: torchvision's official weights; offline: the course mirror's copy. A quick run goes
    # straight to the mirror when there is one (no network time-out in the tests).
    pretrained, weights = from_torchvision(
        "mobilenet_v2", weights="mirror" if quick and data.mirror_dir() else "DEFAULT"
    )
    t0 = time.perf_counter()
    f_train = extract_features(pretrained, train)
    f_val = extract_features(pretrained, val)
    extract_seconds = time.perf_counter() - t0
    probe = fit_linear_probe(f_train, train.labels, num_classes=10)
    # The pretrained ImageNet head itself, restricted to the 10 Imagenette classes (no training at all).
    with torch.no_grad():
        imagenet_logits = pretrained.classifier(f_val)[:, list(IMAGENETTE_IMAGENET_INDEX)]
    result["pretrained"] = {
        "weights": weights,
        "feature_dim": f_train.shape[1],
        "extract_seconds": extract_seconds,
        "extract_img_per_s": (len(train) + len(val)) / extract_seconds,
        "probe_params": probe.num_parameters(),
        "probe_fit_seconds": probe.fit_seconds,
        "probe_train_acc": probe_accuracy(probe, f_train, train.labels),
        "probe_val_acc": probe_accuracy(probe, f_val, val.labels),
        "imagenet_head_val_acc": (imagenet_logits.argmax(1) == val.labels).float().mean().item(),
    }
    # The probe's accuracy with fewer labelled photos per class (the same features).
    curve = {}
    for shots in SHOTS:
        idx = torch.cat([torch.nonzero(train.labels == c).flatten()[:shots] for c in range(10)])
        if len(idx) < 10 * shots:
            continue
        p = fit_linear_probe(f_train[idx], train.labels[idx], num_classes=10)
        curve[str(shots)] = probe_accuracy(p, f_val, val.labels)
    result["pretrained"]["shots_val_acc"] = curve

    # 2. From scratch: a narrow VGG-11-BN (GAP head) on 64 x 64 copies of the same 1,000 photos.
    small_train, small_val = resize_images(train, SCRATCH_SIZE), resize_images(val, SCRATCH_SIZE)
    scratch = get_model("vgg11_bn_cifar", width=SCRATCH_WIDTH, head="cifar", num_classes=10)
    config = _config(quick, SCRATCH_EPOCHS, 64)
    history = fit(scratch, small_train, small_val, config, device="cpu", progress=False)
    result["scratch"] = {
        "model": f"vgg11_bn_cifar(width={SCRATCH_WIDTH})",
        "image_size": SCRATCH_SIZE,
        "params": count_parameters(scratch),
        "config": history["config"],
        "train_seconds": history["train_seconds"],
        "val_acc": evaluate(scratch, small_val)["acc"],
        "final_train_acc": history["epochs"][-1]["train_acc"],
        "epochs": history["epochs"],
    }
    return result
