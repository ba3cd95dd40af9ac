"""Datasets in memory (MNIST, CIFAR-10, Imagenette), batch-level augmentation, ImageNet's class names."""

from .augment import MixedBatch, augment_batch, iterate_batches, mix_batch, normalize, random_crop, random_flip
from .imagenet import imagenet_classes, imagenette_file_origins, imagenette_targets
from .sources import (
    DATASETS,
    IMAGENETTE_IMAGENET_INDEX,
    DatasetSpec,
    DatasetUnavailableError,
    ImageTensors,
    MirrorChecksumError,
    cifar10_orientation,
    data_dir,
    extract_image_tree,
    load,
    mirror_dir,
    prepare,
)

__all__ = [
    "DATASETS",
    "IMAGENETTE_IMAGENET_INDEX",
    "DatasetSpec",
    "DatasetUnavailableError",
    "ImageTensors",
    "MirrorChecksumError",
    "MixedBatch",
    "augment_batch",
    "cifar10_orientation",
    "mix_batch",
    "data_dir",
    "extract_image_tree",
    "imagenet_classes",
    "imagenette_file_origins",
    "imagenette_targets",
    "iterate_batches",
    "load",
    "mirror_dir",
    "normalize",
    "prepare",
    "random_crop",
    "random_flip",
]
