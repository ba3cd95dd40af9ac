"""ImageNet and its challenge: the facts with their sources, the class names, top-k accuracy.

What the course measures on the ImageNet scale goes through this module:

- ``ILSVRC_WINNERS`` and ``HUMAN_TOP5_ERROR``: the classification winners of the ImageNet
  Large Scale Visual Recognition Challenge by year, each with its source;
- ``imagenet_classes()``: the 1,000 class names in torchvision's order (offline);
- ``topk_correct`` / ``topk_accuracy`` / ``top_predictions``: what "top-1" and "top-5" mean, in code;
- ``pretrained_mobilenet_v2()``: a real ImageNet classifier (the course mirror's copy offline,
  torchvision's official weights online) and ``imagenette_targets`` to score it on Imagenette;
- ``imagenette_file_origins()``: which of Imagenette's photos are ImageNet training or validation
  photos (their file names tell);
- ``cost_split``: where a network keeps its parameters and spends its multiply-adds.
"""

from __future__ import annotations

import math
import re
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from .data import IMAGENETTE_IMAGENET_INDEX, ImageTensors, data_dir, mirror_dir
from .summary import LayerTable

__all__ = [
    "HUMAN_TOP5_ERROR",
    "ILSVRC_CLASSIFICATION",
    "ILSVRC_WINNERS",
    "IMAGENET",
    "IlsvrcResult",
    "accuracy_interval",
    "cost_split",
    "imagenet_classes",
    "imagenette_file_origins",
    "imagenette_targets",
    "pretrained_mobilenet_v2",
    "published_figures",
    "top_predictions",
    "topk_accuracy",
    "topk_correct",
]

RUSSAKOVSKY_2015 = (
    "Russakovsky et al., ImageNet Large Scale Visual Recognition Challenge, IJCV 115(3), 2015, "
    "https://arxiv.org/abs/1409.0575"
)

# ImageNet as a whole and the ILSVRC classification subset (used 2012-2017).
IMAGENET = {
    "images": 14_197_122,  # image-net.org, "about" page statistics (the fall 2011 release)
    "synsets": 21_841,  # WordNet noun synsets with images, same source
    "source": "https://image-net.org/about.php; Deng et al., ImageNet: A Large-Scale Hierarchical Image Database, CVPR 2009",
}
ILSVRC_CLASSIFICATION = {
    "classes": 1000,
    "train_images": 1_281_167,  # ILSVRC 2012-2017 (Russakovsky et al. 2015, Table 2)
    "val_images": 50_000,  # 50 per class
    "test_images": 100_000,
    "source": RUSSAKOVSKY_2015 + ", Table 2",
}


@dataclass(frozen=True)
class IlsvrcResult:
    """One year's winning entry of the ILSVRC classification task (top-5 error on the test set)."""

    year: int
    team: str
    method: str  # what the entry was, in a few words
    top5_error: float  # percent, test set, as the results page or the paper gives it
    cnn: bool  # a convolutional network?
    depth: int | None  # weight layers of the deepest single network (None: not a deep network / an ensemble of several)
    source: str
    note: str = ""


ILSVRC_WINNERS: tuple[IlsvrcResult, ...] = (
    IlsvrcResult(
        2010, "NEC-UIUC", "SIFT/LBP features, sparse coding, linear SVMs", 28.2, False, None,
        "ILSVRC 2010 results, https://image-net.org/challenges/LSVRC/2010/ (0.28191); " + RUSSAKOVSKY_2015,
    ),
    IlsvrcResult(
        2011, "XRCE", "Fisher vectors, linear SVMs", 25.8, False, None,
        "ILSVRC 2011 results, https://image-net.org/challenges/LSVRC/2011/results (0.25770); " + RUSSAKOVSKY_2015,
    ),
    IlsvrcResult(
        2012, "SuperVision", "AlexNet, 7 CNNs", 15.3, True, 8,
        "ILSVRC 2012 results, https://image-net.org/challenges/LSVRC/2012/results.html (0.15315); "
        "Krizhevsky, Sutskever, Hinton, NeurIPS 2012, Table 2",
        note="pre-trained on the ImageNet Fall 2011 release; 16.4 % with the challenge data only; runner-up ISI 26.2 %",
    ),
    IlsvrcResult(
        2013, "Clarifai", "ZFNet-style CNN ensemble", 11.7, True, 8,
        "ILSVRC 2013 results, https://image-net.org/challenges/LSVRC/2013/results.php (0.11743); "
        "Zeiler & Fergus, https://arxiv.org/abs/1311.2901",
        note="11.2 % with outside training data",
    ),
    IlsvrcResult(
        2014, "GoogLeNet", "Inception v1, 7 CNNs, 144 crops", 6.67, True, 22,
        "Szegedy et al., Going Deeper with Convolutions, CVPR 2015, Table 2, https://arxiv.org/abs/1409.4842",
        note="runner-up VGG (Simonyan & Zisserman) 7.3 %",
    ),
    IlsvrcResult(
        2015, "MSRA", "ResNet, ensemble of 6", 3.57, True, 152,
        "He et al., Deep Residual Learning for Image Recognition, CVPR 2016, Table 5, https://arxiv.org/abs/1512.03385",
    ),
    IlsvrcResult(
        2016, "Trimps-Soushen", "ensemble of Inception, ResNet, Inception-ResNet, WRN", 2.99, True, None,
        "ILSVRC 2016 results, https://image-net.org/challenges/LSVRC/2016/results (0.02991)",
        note="runner-up ResNeXt (Xie et al.) 3.03 %",
    ),
    IlsvrcResult(
        2017, "WMW", "SENet, ensemble", 2.251, True, 154,
        "Hu, Shen, Sun, Squeeze-and-Excitation Networks, CVPR 2018, abstract (2.251 %), https://arxiv.org/abs/1709.01507",
        note="the last ILSVRC; the paper gives three decimals, shown rounded to 2.25 %",
    ),
)  # fmt: skip

HUMAN_TOP5_ERROR = IlsvrcResult(
    2014, "human (A. Karpathy)", "one trained annotator, 1,500 test images", 5.1, False, None,
    RUSSAKOVSKY_2015 + ", Section 6.4",
    note="a second, less trained annotator: 12.0 % on 258 images",
)  # fmt: skip


# --------------------------------------------------------------------------- classes and models


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names in torchvision's order (index i = output i of every torchvision model)."""
    from torchvision.models import MobileNet_V2_Weights

    return tuple(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


def published_figures(torchvision_name: str, weights: str = "IMAGENET1K_V1") -> dict[str, float | int | str]:
    """torchvision's documented figures for one of a model's weights (V1: the original training recipe).

    Returns ``{"top1": %, "top5": %, "params": n, "gflops": multiply-adds in billions at 224 px, "weights": name}``
    (ImageNet-1k validation set, resize 256 + centre crop 224).
    """
    import torchvision.models as tvm

    try:
        weights = tvm.get_model_weights(torchvision_name)[weights]
    except (KeyError, ValueError) as exc:
        raise KeyError(f"torchvision has no {weights!r} weights for {torchvision_name!r}") from exc
    meta = weights.meta
    metrics = meta["_metrics"]["ImageNet-1K"]
    return {"top1": metrics["acc@1"], "top5": metrics["acc@5"], "params": meta["num_params"], "gflops": meta["_ops"], "weights": str(weights)}


def pretrained_mobilenet_v2() -> tuple[nn.Module, str]:
    """cnnlib's MobileNetV2 with ImageNet-1k weights, in eval mode, and a sentence saying which weights.

    With ``$CNNLIB_MIRROR`` set, the mirror's copy (no download is attempted); otherwise
    torchvision's official weights (downloaded once by torchvision).
    """
    from .pretrained import from_torchvision

    return from_torchvision("mobilenet_v2", weights="mirror" if mirror_dir() is not None else "DEFAULT")


def imagenette_targets(data: ImageTensors) -> Tensor:
    """ImageNet-1k class indices of Imagenette labels (Imagenette's 10 classes are ImageNet classes)."""
    if data.spec.name != "imagenette":
        raise ValueError(f"imagenette_targets needs Imagenette images, got {data.spec.name!r}")
    return torch.tensor(IMAGENETTE_IMAGENET_INDEX)[data.labels]


_IMAGENET_TRAIN_NAME = re.compile(r"^n\d{8}_\d+\.JPEG$")  # ImageNet training photos: <wnid>_<number>.JPEG
_IMAGENET_VAL_NAME = re.compile(r"^ILSVRC2012_val_\d{8}\.JPEG$")  # ILSVRC-2012 validation photos


def imagenette_file_origins(split: str = "val", source: str | None = None) -> dict[str, int | str]:
    """Count Imagenette's photos by where in ImageNet they come from, using their file names.

    Imagenette (fastai's ``imagenette2``) pooled the ImageNet photos of its ten classes and re-split them
    70/30; the photos keep their ImageNet names: ``n01440764_10026.JPEG`` is an ImageNet *training*
    photo, ``ILSVRC2012_val_00000293.JPEG`` an ILSVRC-2012 *validation* photo. ``source`` is an archive
    (``.tar.gz``) or a folder holding ``<split>/<wnid>/*.JPEG`` somewhere below it; by default the
    course mirror's archive, else the folder ``cnnlib.data.load`` downloaded into.

    Returns ``{"imagenet_train": n, "imagenet_val": n, "other": n, "source": where}``. Raises
    ``FileNotFoundError`` when no copy of Imagenette's files is found.
    """
    from .data.sources import MIRROR_ARCHIVES

    if source is None:
        mirror = mirror_dir()
        candidates = [mirror / MIRROR_ARCHIVES["imagenette"][0]] if mirror is not None else []
        candidates.append(data_dir() / "downloads" / "imagenette")
        found = [c for c in candidates if c.exists()]
        if not found:
            raise FileNotFoundError(
                f"no copy of Imagenette's files in {' or '.join(map(str, candidates))} (a cached tensor copy keeps no file "
                f"names): set $CNNLIB_MIRROR, or remove imagenette-*.pt from {data_dir() / 'cache'} so that cnnlib.data.load downloads them"
            )
        path = found[0]
    else:
        from pathlib import Path

        path = Path(source)
    if path.is_dir():
        names = [p.relative_to(path).as_posix() for p in path.rglob("*.JPEG")]
    elif path.is_file():
        with tarfile.open(path) as tar:
            names = tar.getnames()
    else:
        raise FileNotFoundError(f"{path} is neither a folder nor an archive")
    counts: dict[str, int | str] = {"imagenet_train": 0, "imagenet_val": 0, "other": 0}
    for name in names:
        parts = name.split("/")
        if len(parts) < 3 or parts[-3] != split or not parts[-1].upper().endswith((".JPEG", ".JPG")):
            continue  # not a photo of this split
        key = "imagenet_train" if _IMAGENET_TRAIN_NAME.match(parts[-1]) else "imagenet_val" if _IMAGENET_VAL_NAME.match(parts[-1]) else "other"
        counts[key] += 1
    if counts["imagenet_train"] + counts["imagenet_val"] + counts["other"] == 0:
        raise FileNotFoundError(f"no photos of the {split!r} split in {path}")
    counts["source"] = str(path)
    return counts


# --------------------------------------------------------------------------- top-k


def _check_logits(logits: Tensor, targets: Tensor, k: int) -> None:
    if logits.dim() != 2:
        raise ValueError(f"logits must be N x C (one row of class scores per image), got shape {tuple(logits.shape)}")
    if targets.shape != (logits.shape[0],):
        raise ValueError(f"{logits.shape[0]} rows of logits but targets of shape {tuple(targets.shape)}")
    if not 1 <= k <= logits.shape[1]:
        raise ValueError(f"k must be in 1..{logits.shape[1]} (the number of classes), got {k}")
    if targets.numel() and (targets.min() < 0 or targets.max() >= logits.shape[1]):
        raise ValueError(f"targets must be class indices in 0..{logits.shape[1] - 1}")


def topk_correct(logits: Tensor, targets: Tensor, k: int) -> Tensor:
    """For each image, whether its true class is among the ``k`` highest-scoring classes (N bools)."""
    _check_logits(logits, targets, k)
    return (logits.topk(k, dim=1).indices == targets[:, None]).any(dim=1)


def topk_accuracy(logits: Tensor, targets: Tensor, ks: Sequence[int] = (1, 5)) -> dict[int, float]:
    """Top-k accuracy (a fraction) for each k: ``{1: top-1, 5: top-5}`` by default."""
    return {k: topk_correct(logits, targets, k).float().mean().item() for k in ks}


def top_predictions(logits: Tensor, k: int = 5, classes: Sequence[str] | None = None) -> list[tuple[int, str, float]]:
    """The ``k`` most probable classes of one image's logits: (index, name, softmax probability), best first."""
    if logits.dim() == 2 and logits.shape[0] == 1:
        logits = logits[0]
    if logits.dim() != 1:
        raise ValueError(f"top_predictions takes the logits of one image (C values), got shape {tuple(logits.shape)}")
    classes = classes if classes is not None else (imagenet_classes() if logits.numel() == 1000 else None)
    if classes is not None and len(classes) != logits.numel():
        raise ValueError(f"{logits.numel()} logits but {len(classes)} class names")
    probs = logits.float().softmax(0)
    values, indices = probs.topk(k)
    return [(int(i), classes[int(i)] if classes else str(int(i)), float(v)) for v, i in zip(values, indices)]


def accuracy_interval(accuracy: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (95 % by default) for an accuracy measured on ``n`` independent images."""
    if n <= 0 or not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"need n > 0 and an accuracy in [0, 1], got n={n}, accuracy={accuracy}")
    denom = 1 + z * z / n
    centre = (accuracy + z * z / (2 * n)) / denom
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


# --------------------------------------------------------------------------- anatomy


CONV_KINDS = ("Conv1d", "Conv2d", "Conv3d")
DENSE_KINDS = ("Linear",)


def cost_split(table: LayerTable) -> dict[str, dict[str, float]]:
    """Parameters and multiply-adds of a per-layer table, split into convolutions, dense layers and the rest.

    Returns ``{"params": {"conv": n, "dense": n, "other": n}, "mult_adds": {...}, "params_share": {...},
    "mult_adds_share": {...}}`` (shares are fractions of the model's totals). "other" is everything
    with weights or operations that is neither (batch norm, pooling, additions counted per layer).
    """
    groups = {"params": {"conv": 0, "dense": 0, "other": 0}, "mult_adds": {"conv": 0, "dense": 0, "other": 0}}
    for row in table.rows:
        kind = "conv" if row.kind in CONV_KINDS else "dense" if row.kind in DENSE_KINDS else "other"
        groups["params"][kind] += row.params
        groups["mult_adds"][kind] += row.mult_adds
    # whatever the leaf rows miss (parameters or operations of container modules) is "other"
    groups["params"]["other"] += table.total_params - sum(groups["params"].values())
    groups["mult_adds"]["other"] += table.total_mult_adds - sum(groups["mult_adds"].values())
    for key, total in (("params", table.total_params), ("mult_adds", table.total_mult_adds)):
        groups[f"{key}_share"] = {k: v / total for k, v in groups[key].items()}
    return groups
