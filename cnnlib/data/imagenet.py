"""ImageNet's classes and Imagenette's place in ImageNet.

- ``imagenet_classes()``: the 1,000 class names in torchvision's order (offline);
- ``imagenette_targets``: the ImageNet-1k class index of each Imagenette label, to score an
  ImageNet classifier on Imagenette;
- ``imagenette_file_origins()``: which of Imagenette's photos are ImageNet training or validation
  photos (their file names tell).
"""

from __future__ import annotations

import re
import tarfile
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

from .sources import IMAGENETTE_IMAGENET_INDEX, MIRROR_ARCHIVES, ImageTensors, data_dir, mirror_dir

__all__ = ["imagenet_classes", "imagenette_file_origins", "imagenette_targets"]


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names in torchvision's order (index i = output i of every torchvision model)."""
    from torchvision.models import MobileNet_V2_Weights

    return tuple(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


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
    if source is None:
        mirror = mirror_dir()
        candidates = [mirror / MIRROR_ARCHIVES["imagenette"][0]] if mirror is not None else []
        candidates.append(data_dir() / "downloads" / "imagenette")
        found = [c for c in candidates if c.exists()]
        if not found:
            raise FileNotFoundError(
                f"no copy of Imagenette's files in {' or '.join(map(str, candidates))} "
                "(a cached tensor copy keeps no file names): set $CNNLIB_MIRROR, "
                f"or remove imagenette-*.pt from {data_dir() / 'cache'} so that cnnlib.data.load downloads them"
            )
        path = found[0]
    else:
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
        key = (
            "imagenet_train"
            if _IMAGENET_TRAIN_NAME.match(parts[-1])
            else "imagenet_val"
            if _IMAGENET_VAL_NAME.match(parts[-1])
            else "other"
        )
        counts[key] += 1
    if counts["imagenet_train"] + counts["imagenet_val"] + counts["other"] == 0:
        raise FileNotFoundError(f"no photos of the {split!r} split in {path}")
    counts["source"] = str(path)
    return counts
