"""Datasets in memory (MNIST, CIFAR-10, Imagenette) and batch-level augmentation."""

from .augment import augment_batch, iterate_batches, normalize, random_crop, random_flip
from .sources import (
    DATASETS,
    IMAGENETTE_IMAGENET_INDEX,
    DatasetSpec,
    DatasetUnavailableError,
    ImageTensors,
    MirrorChecksumError,
    atomic_write,
    data_dir,
    extract_image_tree,
    load,
    mirror_dir,
    prepare,
    scratch_dir,
    sha256_file,
)

__all__ = [
    "DATASETS",
    "IMAGENETTE_IMAGENET_INDEX",
    "DatasetSpec",
    "DatasetUnavailableError",
    "ImageTensors",
    "MirrorChecksumError",
    "atomic_write",
    "augment_batch",
    "data_dir",
    "extract_image_tree",
    "iterate_batches",
    "load",
    "mirror_dir",
    "normalize",
    "prepare",
    "random_crop",
    "random_flip",
    "scratch_dir",
    "sha256_file",
]
