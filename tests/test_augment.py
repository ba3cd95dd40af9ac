"""Batch augmentation: shapes, dtype, determinism, and that a crop is a real shifted window."""

import pytest
import torch

from cnnlib.data import augment_batch, iterate_batches, normalize, random_crop, random_flip


@pytest.fixture
def batch():
    return torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_shapes_and_dtype_preserved(batch):
    out = augment_batch(batch, crop_padding=4, flip=True, generator=torch.Generator().manual_seed(1))
    assert out.shape == batch.shape and out.dtype == torch.uint8


def test_same_seed_same_batch_other_seed_other_batch(batch):
    a = augment_batch(batch, crop_padding=4, flip=True, generator=torch.Generator().manual_seed(1))
    b = augment_batch(batch, crop_padding=4, flip=True, generator=torch.Generator().manual_seed(1))
    c = augment_batch(batch, crop_padding=4, flip=True, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_crop_is_a_window_of_the_zero_padded_image(batch):
    gen = torch.Generator().manual_seed(5)
    out = random_crop(batch, 4, gen)
    padded = torch.nn.functional.pad(batch, (4, 4, 4, 4))
    for n in range(len(batch)):
        windows = [
            (dy, dx)
            for dy in range(9)
            for dx in range(9)
            if torch.equal(padded[n, :, dy : dy + 32, dx : dx + 32], out[n])
        ]
        assert windows, f"image {n} is not a 32x32 window of its padded original"
    offsets = {
        tuple(random_crop(batch[:1], 4, torch.Generator().manual_seed(s))[0, 0, 16, :4].tolist()) for s in range(20)
    }
    assert len(offsets) > 1, "different seeds must give different offsets"


def test_zero_padding_crop_is_identity(batch):
    assert torch.equal(random_crop(batch, 0), batch)


def test_flip(batch):
    flipped = random_flip(batch, torch.Generator().manual_seed(0), p=1.0)
    assert torch.equal(flipped, batch.flip(3))
    assert torch.equal(random_flip(batch, torch.Generator().manual_seed(0), p=0.0), batch)
    half = random_flip(batch, torch.Generator().manual_seed(0))
    n_flipped = sum(torch.equal(half[i], batch[i].flip(2)) for i in range(len(batch)))
    assert 0 < n_flipped < len(batch)


def test_normalize():
    x = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1)
    out = normalize(x, mean=(0.5,), std=(0.25,))
    assert out.dtype == torch.float32
    assert torch.allclose(out.flatten(), torch.tensor([-2.0, 2.0]))
    with pytest.raises(ValueError, match="channels"):
        normalize(x, mean=(0.5, 0.5, 0.5), std=(1, 1, 1))


def test_rejects_non_batch():
    with pytest.raises(ValueError, match="N x C x H x W"):
        random_crop(torch.zeros(3, 32, 32, dtype=torch.uint8), 4)


def test_iterate_batches_covers_every_index_once():
    idx = torch.cat(list(iterate_batches(10, 3, shuffle=True, generator=torch.Generator().manual_seed(0))))
    assert sorted(idx.tolist()) == list(range(10))
    assert [len(b) for b in iterate_batches(10, 3, shuffle=False, drop_last=True)] == [3, 3, 3]
