"""Shared fixtures: a tiny fake mirror, an isolated data folder, offline guarantees."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import tarfile
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]


def _idx_images(images: torch.Tensor) -> bytes:
    n, h, w = images.shape
    return struct.pack(">IIII", 2051, n, h, w) + images.numpy().tobytes()


def _idx_labels(labels: torch.Tensor) -> bytes:
    return struct.pack(">II", 2049, len(labels)) + labels.to(torch.uint8).numpy().tobytes()


def _png_bytes(image: torch.Tensor) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buf, format="PNG")
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


@pytest.fixture
def fake_mirror(tmp_path, monkeypatch):
    """A mirror in the real one's layout with a few images per split, and an empty data folder.

    Returns a dict with the folders and the tensors written, for comparison.
    """
    from cnnlib.data import DATASETS

    mirror = tmp_path / "mirror"
    raw = mirror / "MNIST" / "raw"
    raw.mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    written = {}
    for split, stem, n in (("train", "train", 12), ("test", "t10k", 5)):
        images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=gen)
        labels = torch.arange(n) % 10
        (raw / f"{stem}-images-idx3-ubyte").write_bytes(_idx_images(images))
        (raw / f"{stem}-labels-idx1-ubyte").write_bytes(_idx_labels(labels))
        written[("mnist", split)] = (images.unsqueeze(1), labels)

    classes = DATASETS["cifar10"].classes
    with tarfile.open(mirror / "cifar10-png.tar.gz", "w:gz") as tar:
        for split, per_class in (("train", 2), ("test", 1)):
            imgs, labs = [], []
            for c, name in enumerate(classes):
                for i in range(per_class):
                    img = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=gen)
                    _add(tar, f"cifar10/{split}/{name}/{i:05d}.png", _png_bytes(img))
                    imgs.append(img)
                    labs.append(c)
            written[("cifar10", split)] = (torch.stack(imgs), torch.tensor(labs))

    sums = []
    for path in sorted(p for p in mirror.rglob("*") if p.is_file()):
        sums.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(mirror).as_posix()}")
    (mirror / "SHA256SUMS").write_text("\n".join(sums) + "\n")

    data = tmp_path / "data"
    monkeypatch.setenv("CNNLIB_MIRROR", str(mirror))
    monkeypatch.setenv("CNNLIB_DATA", str(data))
    return {"mirror": mirror, "data": data, "written": written}


@pytest.fixture
def offline(monkeypatch):
    """Make torchvision's download path fail the way it fails without a network."""
    import cnnlib.data.sources as sources

    def no_network(*args, **kwargs):
        raise OSError("network is unreachable (simulated by the test)")

    monkeypatch.setattr(sources, "_download", no_network)


def real_mirror() -> Path | None:
    """The real mirror named by $CNNLIB_MIRROR (CI sets it), if present."""
    value = os.environ.get("CNNLIB_MIRROR")
    if not value:
        return None
    path = Path(value)
    if not path.is_absolute():
        path = (REPO / path).resolve()
    return path if (path / "SHA256SUMS").is_file() else None


@pytest.fixture(scope="session")
def site():
    """The decks, pages and index in the course's ``build/`` (``python3 course.py build``), built once.

    The notebook tests run first (see the root conftest) and leave their executed copies, which the
    build reuses; run alone, this fixture executes the notebooks itself.
    """
    from cnnlib.presentation.build import build

    manifest = build(log=lambda *_: None)
    return {"build": REPO / "build", "manifest": manifest}
