"""Datasets as uint8 tensors in memory, from the first source that works.

Sources, tried in this order:

1. **cache**: ``<data dir>/cache/<name>-<split>.pt``, written by an earlier load;
2. **mirror**: the folder named by ``$CNNLIB_MIRROR`` (an offline copy of the
   datasets, see the course README), each file checked against the mirror's
   ``SHA256SUMS`` before it is used;
3. **download**: torchvision's own dataset classes with ``download=True``.

The images are decoded once and cached as one N x C x H x W ``uint8`` tensor,
so a training loop never touches PIL or a worker process. Every result carries
``source``, a sentence saying where the images came from.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from ..io import atomic_write, scratch_dir, sha256_file

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "DatasetUnavailableError",
    "ImageTensors",
    "MirrorChecksumError",
    "data_dir",
    "extract_image_tree",
    "load",
    "mirror_dir",
]

MIRROR_ENV = "CNNLIB_MIRROR"
DATA_ENV = "CNNLIB_DATA"
CACHE_FORMAT = 1


class DatasetUnavailableError(RuntimeError):
    """No source could provide the dataset; the message lists every attempt."""


class MirrorChecksumError(RuntimeError):
    """A mirror file does not match the checksum its ``SHA256SUMS`` records."""


@dataclass(frozen=True)
class DatasetSpec:
    """Static facts about a dataset: its classes and normalisation statistics."""

    name: str
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, of images scaled to [0, 1]
    std: tuple[float, ...]
    splits: tuple[str, ...] = ("train", "test")


IMAGENETTE_WNIDS = (
    "n01440764", "n02102040", "n02979186", "n03000684", "n03028079",
    "n03394916", "n03417042", "n03425413", "n03445777", "n03888257",
)  # fmt: skip

DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        "mnist",
        classes=tuple(str(d) for d in range(10)),
        mean=(0.1307,),  # of the 60,000 training digits
        std=(0.3081,),
    ),
    "cifar10": DatasetSpec(
        "cifar10",
        classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        mean=(0.4914, 0.4822, 0.4465),  # of the 50,000 training images
        std=(0.2470, 0.2435, 0.2616),
    ),
    "imagenette": DatasetSpec(
        "imagenette",
        classes=(
            "tench",
            "English springer",
            "cassette player",
            "chain saw",
            "church",
            "French horn",
            "garbage truck",
            "gas pump",
            "golf ball",
            "parachute",
        ),  # fmt: skip
        mean=(0.485, 0.456, 0.406),  # ImageNet statistics: the pretrained models expect them
        std=(0.229, 0.224, 0.225),
        splits=("train", "val"),
    ),
}

# ImageNet-1k class index of each Imagenette class (torchvision's class order).
IMAGENETTE_IMAGENET_INDEX = (0, 217, 482, 491, 497, 566, 569, 571, 574, 701)


@dataclass(frozen=True)
class ImageTensors:
    """A whole split of a dataset in memory.

    Attributes:
        images: ``N x C x H x W`` uint8 tensor.
        labels: ``N`` int64 tensor of class indices.
        spec: the dataset's classes and normalisation statistics.
        split: ``"train"``, ``"test"`` or ``"val"``.
        source: where the images came from, e.g. ``"mirror ../shared/mirror/MNIST/raw (SHA-256 verified)"``.
    """

    images: Tensor
    labels: Tensor
    spec: DatasetSpec
    split: str
    source: str
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(
                f"images must be an N x C x H x W uint8 tensor, got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"{self.images.shape[0]} images but labels of shape {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    def __repr__(self) -> str:
        c, h, w = self.images.shape[1:]
        return f"ImageTensors({self.spec.name}/{self.split}: {len(self)} images {c}x{h}x{w}, source: {self.source})"

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes

    @property
    def shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return (c, h, w)

    def subset(self, n: int, seed: int = 0) -> "ImageTensors":
        """A fixed random subset of ``n`` images (the same for the same seed)."""
        if not 0 < n <= len(self):
            raise ValueError(f"subset size must be in 1..{len(self)}, got {n}")
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n].sort().values
        return replace(
            self, images=self.images[idx], labels=self.labels[idx], notes=self.notes + (f"subset {n} seed {seed}",)
        )

    def pad(self, pixels: int) -> "ImageTensors":
        """Zero-pad every image by ``pixels`` on each side (MNIST 28x28 -> 32x32 with ``pad(2)``, as LeNet-5 did)."""
        images = torch.nn.functional.pad(self.images, (pixels,) * 4)
        return replace(self, images=images, notes=self.notes + (f"padded by {pixels}",))


# --------------------------------------------------------------------------- locations


def data_dir() -> Path:
    """Where caches and downloads go: ``$CNNLIB_DATA``, else the course's ``data/``, else ``~/.cache/cnnlib``."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file() and (repo / "data").is_dir():
        return repo / "data"
    return Path.home() / ".cache" / "cnnlib"


def mirror_dir() -> Path | None:
    """The offline mirror named by ``$CNNLIB_MIRROR``, or ``None`` when unset.

    A relative path is taken from the current folder, or, if it does not exist there (a notebook
    runs in ``notebooks/``), from the course's root folder.
    """
    value = os.environ.get(MIRROR_ENV)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute() and not path.exists():
        from_root = Path(__file__).resolve().parents[2] / path
        if from_root.exists():
            path = from_root
    return path.resolve()


# --------------------------------------------------------------------------- files


def _verified_mirror_file(mirror: Path, relpath: str) -> Path:
    """``mirror/relpath`` after checking it against ``mirror/SHA256SUMS``."""
    sums_file = mirror / "SHA256SUMS"
    if not sums_file.is_file():
        raise FileNotFoundError(f"{sums_file} is missing, so the mirror's files cannot be verified")
    sums = {}
    for line in sums_file.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*").strip()] = digest
    if relpath not in sums:
        raise MirrorChecksumError(f"{relpath} is not listed in {sums_file}")
    path = mirror / relpath
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    actual = sha256_file(path)
    if actual != sums[relpath]:
        raise MirrorChecksumError(
            f"{path} has SHA-256 {actual[:16]}..., but {sums_file.name} records {sums[relpath][:16]}...: "
            "the copy is damaged; copy the mirror again"
        )
    return path


def _extract_split(archive: Path, prefix: str, dest: Path) -> Path:
    """Extract the members of ``archive`` under ``prefix`` into ``dest``; returns ``dest / prefix``."""
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix + "/")]
        if not members:
            raise FileNotFoundError(f"{archive} has no folder {prefix}/")
        tar.extractall(dest, members=members, filter="data")
    return dest / prefix


def _decode_image_folder(root: Path, spec: DatasetSpec, folder_names: tuple[str, ...]) -> tuple[Tensor, Tensor]:
    """Decode an ImageFolder tree with torchvision's ``ImageFolder`` into uint8 tensors (RGB)."""
    from torchvision.datasets import ImageFolder
    from torchvision.transforms.functional import pil_to_tensor

    folder = ImageFolder(str(root), transform=lambda img: pil_to_tensor(img.convert("RGB")))
    if tuple(folder.classes) != folder_names:
        raise ValueError(f"{root} has class folders {folder.classes}, expected {list(folder_names)}")
    images = torch.stack([folder[i][0] for i in _progress(range(len(folder)), f"decoding {spec.name}")])
    labels = torch.tensor(folder.targets, dtype=torch.int64)
    return images, labels


def _progress(iterable, desc: str):
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False, mininterval=1.0)


MIRROR_ARCHIVES = {"cifar10": ("cifar10-png.tar.gz", "cifar10"), "imagenette": ("imagenette-224.tar.gz", "imagenette")}


def extract_image_tree(name: str, split: str, dest: Path) -> tuple[Path, Path]:
    """Extract the mirror's ImageFolder tree of ``name``/``split`` into ``dest`` (after checking its checksum).

    Returns (the tree's root folder, the verified archive). Used by the loaders and by the benchmark
    that times torchvision's default per-image pipeline on the same files.
    """
    mirror = mirror_dir()
    if mirror is None:
        raise DatasetUnavailableError(f"${MIRROR_ENV} is not set, so there is no mirror to extract {name} from")
    archive_name, top = MIRROR_ARCHIVES[name]
    archive = _verified_mirror_file(mirror, archive_name)
    return _extract_split(archive, f"{top}/{split}", dest), archive


# --------------------------------------------------------------------------- per-dataset readers
# Each reader returns (images, labels, source sentence) or raises with a reason.


def _mnist_from_mirror(mirror: Path, split: str) -> tuple[Tensor, Tensor, str]:
    from torchvision.datasets import MNIST

    stem = "train" if split == "train" else "t10k"
    for kind in ("images-idx3", "labels-idx1"):
        _verified_mirror_file(mirror, f"MNIST/raw/{stem}-{kind}-ubyte")
    ds = MNIST(str(mirror), train=split == "train", download=False)
    return ds.data.unsqueeze(1).contiguous(), ds.targets.long(), f"mirror {mirror / 'MNIST/raw'} (SHA-256 verified)"


def _mnist_download(root: Path, split: str) -> tuple[Tensor, Tensor, str]:
    from torchvision.datasets import MNIST

    ds = MNIST(str(root), train=split == "train", download=True)
    return ds.data.unsqueeze(1).contiguous(), ds.targets.long(), "download (torchvision.datasets.MNIST)"


def _cifar10_from_mirror(mirror: Path, split: str) -> tuple[Tensor, Tensor, str]:
    with scratch_dir(data_dir() / "cache", "cifar10-png") as tmp:
        tree, archive = extract_image_tree("cifar10", split, tmp)
        images, labels = _decode_image_folder(tree, DATASETS["cifar10"], DATASETS["cifar10"].classes)
    return images, labels, f"mirror {archive} (SHA-256 verified; PNG tree read with ImageFolder)"


def _cifar10_download(root: Path, split: str) -> tuple[Tensor, Tensor, str]:
    from torchvision.datasets import CIFAR10

    ds = CIFAR10(str(root), train=split == "train", download=True)
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # N x 32 x 32 x 3 -> N x 3 x 32 x 32
    return images, torch.tensor(ds.targets, dtype=torch.int64), "download (torchvision.datasets.CIFAR10)"


# The first training image of the official CIFAR-10 python batches (data_batch_1, row 0: a frog), as
# ``keras.datasets.cifar10.load_data()`` prints ``x_train[0]`` (H x W x RGB): three pixels at each
# end of its first three rows. A horizontal or vertical flip, a transpose or a channel swap moves them.
CIFAR10_FIRST_TRAIN_IMAGE = {
    "label": 6,  # frog
    "rows_left": [[[59, 62, 63], [43, 46, 45], [50, 48, 43]],
                  [[16, 20, 20], [0, 0, 0], [18, 8, 0]],
                  [[25, 24, 21], [16, 7, 0], [49, 27, 8]]],
    "rows_right": [[[158, 132, 108], [152, 125, 102], [148, 124, 103]],
                   [[123, 88, 55], [119, 83, 50], [122, 87, 57]],
                   [[118, 84, 50], [120, 84, 50], [109, 73, 42]]],
}  # fmt: skip


def cifar10_orientation(train: ImageTensors) -> dict[str, object]:
    """Check that CIFAR-10 training images are oriented as the official release.

    Looks for the official first training image (:data:`CIFAR10_FIRST_TRAIN_IMAGE`) among ``train``'s
    images as they are, mirrored left-right and upside down. Returns ``{"as_published": [indices],
    "mirrored": [...], "upside_down": [...], "label_matches": bool}``; an official-orientation copy has
    exactly one index in ``as_published`` and none elsewhere. (The mirror keeps no image order, so
    the image is found by its pixels.)
    """
    ref = CIFAR10_FIRST_TRAIN_IMAGE
    left = torch.tensor(ref["rows_left"], dtype=torch.uint8).permute(2, 0, 1)  # C x 3 rows x 3 columns
    right = torch.tensor(ref["rows_right"], dtype=torch.uint8).permute(2, 0, 1)
    images = train.images
    if images.shape[1:] != (3, 32, 32):
        raise ValueError(f"expected CIFAR-10 training images N x 3 x 32 x 32, got {tuple(images.shape)}")

    def found(x: Tensor) -> list[int]:
        hit = (x[:, :, :3, :3] == left).flatten(1).all(1) & (x[:, :, :3, -3:] == right).flatten(1).all(1)
        return hit.nonzero().flatten().tolist()

    as_published = found(images)
    return {
        "as_published": as_published,
        "mirrored": found(images.flip(-1)),
        "upside_down": found(images.flip(-2)),
        "label_matches": all(int(train.labels[i]) == ref["label"] for i in as_published),
    }


def _imagenette_from_mirror(mirror: Path, split: str) -> tuple[Tensor, Tensor, str]:
    with scratch_dir(data_dir() / "cache", "imagenette-224") as tmp:
        tree, archive = extract_image_tree("imagenette", split, tmp)
        images, labels = _decode_image_folder(tree, DATASETS["imagenette"], IMAGENETTE_WNIDS)
    return images, labels, f"mirror {archive} (SHA-256 verified; 224x224 JPEG tree read with ImageFolder)"


def _imagenette_download(root: Path, split: str) -> tuple[Tensor, Tensor, str]:
    from torchvision.datasets import Imagenette
    from torchvision.transforms.functional import pil_to_tensor, resize

    # The 320 px release, squashed to 224 x 224 like the offline mirror.
    ds = Imagenette(str(root), split=split, size="320px", download=True)
    images = torch.stack(
        [
            resize(pil_to_tensor(ds[i][0].convert("RGB")), [224, 224], antialias=True)
            for i in _progress(range(len(ds)), "decoding imagenette")
        ]
    )
    labels = torch.tensor([target for _, target in ds._samples], dtype=torch.int64)
    return images, labels, "download (torchvision.datasets.Imagenette, 320px, resized to 224x224)"


def _download(reader: Callable, name: str, split: str) -> tuple[Tensor, Tensor, str]:
    """Run a torchvision download in a scratch folder; keep the files only when everything worked."""
    downloads = data_dir() / "downloads"
    final = downloads / name
    if final.is_dir():  # a complete earlier download
        return reader(final, split)
    with scratch_dir(downloads, name) as tmp:
        result = reader(tmp, split)
        os.replace(tmp, final)
        tmp.mkdir()  # so the scratch clean-up has something to remove
    return result


_READERS: dict[str, tuple[Callable, Callable]] = {
    "mnist": (_mnist_from_mirror, _mnist_download),
    "cifar10": (_cifar10_from_mirror, _cifar10_download),
    "imagenette": (_imagenette_from_mirror, _imagenette_download),
}


# --------------------------------------------------------------------------- the public loader


def load(name: str, split: str = "train", *, download: bool = True) -> ImageTensors:
    """Load a whole dataset split as uint8 tensors from the first source that works.

    Args:
        name: ``"mnist"``, ``"cifar10"`` or ``"imagenette"``.
        split: ``"train"`` or ``"test"`` (Imagenette: ``"train"`` or ``"val"``).
        download: allow torchvision's download as the last resort.

    Raises:
        KeyError: unknown dataset or split.
        DatasetUnavailableError: no source worked; the message lists each attempt and what to do.
    """
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; cnnlib knows {sorted(DATASETS)}")
    spec = DATASETS[name]
    if split not in spec.splits:
        raise KeyError(f"{name} has splits {spec.splits}, not {split!r}")

    cache_file = data_dir() / "cache" / f"{name}-{split}.pt"
    attempts: list[str] = []

    if cache_file.is_file():
        try:
            blob = torch.load(cache_file, weights_only=True)
            if blob.get("format") != CACHE_FORMAT:
                raise ValueError(f"cache format {blob.get('format')} != {CACHE_FORMAT}")
            return ImageTensors(
                blob["images"], blob["labels"], spec, split, f"cache {cache_file} (from {blob['source']})"
            )
        except Exception as exc:  # a damaged cache is a miss, not a crash; it is rebuilt below
            attempts.append(f"cache {cache_file}: unreadable ({exc})")
    else:
        attempts.append(f"cache {cache_file}: not there yet")

    from_mirror, from_download = _READERS[name]
    mirror = mirror_dir()
    result = None
    if mirror is None:
        attempts.append(f"mirror: ${MIRROR_ENV} is not set")
    else:
        try:
            result = from_mirror(mirror, split)
        except Exception as exc:
            attempts.append(f"mirror {mirror}: {type(exc).__name__}: {exc}")

    if result is None and download:
        try:
            result = _download(from_download, name, split)
        except Exception as exc:
            attempts.append(f"download with torchvision: {type(exc).__name__}: {exc}")
    elif result is None:
        attempts.append("download: not allowed (download=False)")

    if result is None:
        raise DatasetUnavailableError(
            f"Could not load {name}/{split}. Tried, in order:\n  - "
            + "\n  - ".join(attempts)
            + f"\nWhat to do: connect to the internet so torchvision can download it, or point ${MIRROR_ENV} "
            "at an offline mirror of the course data (a folder with SHA256SUMS), e.g. "
            f"export {MIRROR_ENV}=../shared/mirror"
        )

    images, labels, source = result
    with atomic_write(cache_file) as tmp:
        torch.save({"format": CACHE_FORMAT, "images": images, "labels": labels, "source": source}, tmp)
    return ImageTensors(images, labels, spec, split, source)


def prepare(names: tuple[str, ...] = tuple(DATASETS)) -> list[ImageTensors]:
    """Load (and so cache) every split of the named datasets; used by the course's set-up command."""
    loaded = []
    for name in names:
        for split in DATASETS[name].splits:
            loaded.append(load(name, split))
    return loaded
