"""cnnlib.data: sources in order, checksums, caching, clear errors, nothing half-written."""

from __future__ import annotations

import pytest
import torch

from cnnlib import data
from cnnlib.data import sources
from cnnlib.io import atomic_write

from .conftest import real_mirror


def test_mnist_from_mirror_then_cache(fake_mirror, offline):
    first = data.load("mnist", "train")
    images, labels = fake_mirror["written"][("mnist", "train")]
    assert first.source.startswith("mirror ") and "SHA-256 verified" in first.source
    assert first.images.dtype == torch.uint8 and first.images.shape == (12, 1, 28, 28)
    assert torch.equal(first.images, images) and torch.equal(first.labels, labels)
    assert (fake_mirror["data"] / "cache" / "mnist-train.pt").is_file()

    second = data.load("mnist", "train")
    assert second.source.startswith("cache ") and "from mirror" in second.source
    assert torch.equal(second.images, first.images)


def test_cifar10_png_tree_read_with_imagefolder(fake_mirror, offline):
    test = data.load("cifar10", "test")
    images, labels = fake_mirror["written"][("cifar10", "test")]
    assert test.images.shape == (10, 3, 32, 32)
    assert torch.equal(test.images, images), "PNG decoding must be lossless"
    assert torch.equal(test.labels, labels)
    assert test.classes[0] == "airplane" and test.classes[-1] == "truck"
    # the extracted tree is temporary: only the tensor cache remains
    leftovers = [p.name for p in (fake_mirror["data"] / "cache").iterdir()]
    assert leftovers == ["cifar10-test.pt"], leftovers


def test_damaged_mirror_file_is_refused(fake_mirror, offline):
    path = fake_mirror["mirror"] / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    blob = bytearray(path.read_bytes())
    blob[100] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(data.DatasetUnavailableError) as err:
        data.load("mnist", "test")
    message = str(err.value)
    assert "MirrorChecksumError" in message and "t10k-images-idx3-ubyte" in message and "SHA-256" in message
    assert not (fake_mirror["data"] / "cache" / "mnist-test.pt").exists()


def test_no_source_lists_every_attempt(tmp_path, monkeypatch, offline):
    monkeypatch.delenv("CNNLIB_MIRROR", raising=False)
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path))
    with pytest.raises(data.DatasetUnavailableError) as err:
        data.load("cifar10", "train")
    message = str(err.value)
    for fragment in (
        "cache",
        "CNNLIB_MIRROR is not set",
        "download with torchvision",
        "network is unreachable",
        "What to do",
    ):
        assert fragment in message, fragment


def test_download_disabled_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("CNNLIB_MIRROR", raising=False)
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path))
    with pytest.raises(data.DatasetUnavailableError, match="download=False"):
        data.load("mnist", "test", download=False)


def test_unknown_dataset_and_split():
    with pytest.raises(KeyError, match="unknown dataset 'imagenet'"):
        data.load("imagenet")
    with pytest.raises(KeyError, match="splits"):
        data.load("imagenette", "test")


def test_damaged_cache_is_rebuilt(fake_mirror, offline):
    data.load("mnist", "test")
    cache = fake_mirror["data"] / "cache" / "mnist-test.pt"
    cache.write_bytes(b"not a tensor file")
    again = data.load("mnist", "test")
    assert again.source.startswith("mirror ")
    assert torch.load(cache, weights_only=True)["images"].shape == (5, 1, 28, 28)


def test_cache_write_is_atomic(fake_mirror, offline, monkeypatch):
    def failing_save(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"half")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(sources.torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        data.load("mnist", "train")
    cache_dir = fake_mirror["data"] / "cache"
    assert list(cache_dir.iterdir()) == [], "no partial or temporary file may remain"


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "log.json"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
    with atomic_write(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and list(tmp_path.iterdir()) == [target]
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_failed_download_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("CNNLIB_MIRROR", raising=False)
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path))

    def interrupted(root, split):
        (root / "MNIST").mkdir()
        (root / "MNIST" / "train-images-idx3-ubyte.gz").write_bytes(b"partial")
        raise ConnectionError("connection reset (simulated)")

    monkeypatch.setitem(sources._READERS, "mnist", (sources._mnist_from_mirror, interrupted))
    with pytest.raises(data.DatasetUnavailableError, match="connection reset"):
        data.load("mnist", "train")
    downloads = tmp_path / "downloads"
    assert not downloads.exists() or list(downloads.iterdir()) == []


def test_successful_download_is_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("CNNLIB_MIRROR", raising=False)
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path))

    def fake_download(root, split):
        (root / "marker").write_text("complete")
        return torch.zeros(3, 1, 28, 28, dtype=torch.uint8), torch.tensor([0, 1, 2]), "download (test double)"

    monkeypatch.setitem(sources._READERS, "mnist", (sources._mnist_from_mirror, fake_download))
    ds = data.load("mnist", "test")
    assert ds.source == "download (test double)"
    assert (tmp_path / "downloads" / "mnist" / "marker").read_text() == "complete"


def test_relative_mirror_path_found_from_the_repository_root(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNNLIB_MIRROR", "tests")  # exists in the repo root, not in tmp_path
    assert data.mirror_dir() == (sources.Path(__file__).resolve().parent)


def test_image_tensors_helpers(fake_mirror, offline):
    ds = data.load("mnist", "train")
    padded = ds.pad(2)
    assert padded.shape == (1, 32, 32) and torch.equal(padded.images[:, :, 2:30, 2:30], ds.images)
    sub = ds.subset(5, seed=3)
    assert len(sub) == 5 and torch.equal(sub.images, ds.subset(5, seed=3).images)
    with pytest.raises(ValueError):
        ds.subset(100)
    assert "mnist/train" in repr(ds) and "source" in repr(ds)


def test_cifar10_orientation_finds_flips():
    ref = sources.CIFAR10_FIRST_TRAIN_IMAGE
    frog = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    frog[:, :3, :3] = torch.tensor(ref["rows_left"], dtype=torch.uint8).permute(2, 0, 1)
    frog[:, :3, -3:] = torch.tensor(ref["rows_right"], dtype=torch.uint8).permute(2, 0, 1)
    noise = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    spec = data.DATASETS["cifar10"]

    def split(images, labels):
        return data.ImageTensors(images=images, labels=torch.tensor(labels), spec=spec, split="train", source="test")

    official = data.cifar10_orientation(split(torch.cat([noise, frog[None]]), [0, 1, 2, 3, 6]))
    assert official == {"as_published": [4], "mirrored": [], "upside_down": [], "label_matches": True}
    flipped = data.cifar10_orientation(split(torch.stack([frog.flip(-1), frog.flip(-2)]), [6, 6]))
    assert flipped["as_published"] == [] and flipped["mirrored"] == [0] and flipped["upside_down"] == [1]
    assert data.cifar10_orientation(split(frog[None], [3]))["label_matches"] is False
    with pytest.raises(ValueError, match="32 x 32"):
        data.cifar10_orientation(split(torch.zeros(1, 3, 28, 28, dtype=torch.uint8), [6]))


# ------------------------------------------------------------------ the real mirror (CI sets CNNLIB_MIRROR)

needs_mirror = pytest.mark.skipif(real_mirror() is None, reason="CNNLIB_MIRROR does not name the course's mirror")


@needs_mirror
def test_real_mnist_matches_published_statistics():
    train, test = data.load("mnist", "train"), data.load("mnist", "test")
    assert len(train) == 60_000 and len(test) == 10_000
    mean = train.images.float().div(255).mean().item()
    std = train.images.float().div(255).std().item()
    assert abs(mean - 0.1307) < 5e-4 and abs(std - 0.3081) < 5e-4
    assert torch.bincount(train.labels).tolist()[:3] == [5923, 6742, 5958]  # the published class counts


@needs_mirror
def test_real_cifar10_matches_published_statistics():
    train, test = data.load("cifar10", "train"), data.load("cifar10", "test")
    assert train.images.shape == (50_000, 3, 32, 32) and len(test) == 10_000
    assert torch.bincount(train.labels).tolist() == [5000] * 10
    means = train.images.float().div(255).mean(dim=(0, 2, 3)).tolist()
    for got, published in zip(means, data.DATASETS["cifar10"].mean):
        assert abs(got - published) < 5e-4


@needs_mirror
def test_real_cifar10_is_oriented_as_the_official_release():
    # The mirror is a PNG tree: a conversion that flipped the images would go unnoticed by the
    # statistics above (flips keep per-channel means) but would bias every flip experiment.
    check = data.cifar10_orientation(data.load("cifar10", "train"))
    assert len(check["as_published"]) == 1 and check["label_matches"], check
    assert check["mirrored"] == [] and check["upside_down"] == [], check
