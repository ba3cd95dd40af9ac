"""The zoo's entries: which model, on which data, with which recipe, for which chapter.

Every entry is trained by ``python -m cnnlib.zoo train NAME`` and nothing else; its
recipe below is the whole story of how its checkpoint was made (the log under
``data/zoo/NAME.json`` records it again, with the measured history).

Recipes. All CIFAR-10 entries share one SGD recipe, the one of He et al. (2016, Sec. 4.2)
shortened to a budget a 2-core CPU can afford: SGD with Nesterov momentum 0.9, 30 epochs of
batches of 256 (the paper: 128; on a CPU the larger batch trains about 25 % more images per
second, measured), weight decay 5e-4 (the paper: 1e-4 over 64k iterations; a short schedule
needs the stronger decay), random crops of 32 x 32 from the image padded by 4 pixels and
horizontal flips, and a one-cycle learning rate (linear warm-up to 0.2, the paper's 0.1
scaled with the batch, over the first 15 % of steps, then linear decay to 0) instead of the
paper's step schedule at 32k and 48k iterations.
The degradation quartet (``plain20``, ``plain56``, ``resnet20``, ``resnet56``) uses exactly
the same recipe and number of epochs, so that their curves are comparable, as in the
paper's Fig. 6.

``version`` changes whenever an entry's model or recipe changes: a checkpoint of another
version is refused at load time (retrain it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..train import TrainConfig

__all__ = ["ZooEntry", "ENTRIES", "CIFAR_RECIPE", "MNIST_RECIPE", "UnknownEntryError", "entry"]


class UnknownEntryError(KeyError):
    """A name the zoo does not know."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


@dataclass(frozen=True)
class ZooEntry:
    """One trained model of the course."""

    name: str  # the zoo's name (what ``load`` takes)
    model: str  # the registry name (``cnnlib.get_model``)
    dataset: str  # "mnist" or "cifar10"
    config: TrainConfig
    chapters: tuple[str, ...]  # where the course uses it
    purpose: str  # one line: why the course needs it
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    pad: int = 0  # zero padding of every image before use (MNIST 28 -> 32 for LeNet-5)
    target: float | None = None  # the test accuracy the course asks for (a fraction), if any
    version: int = 1


MNIST_RECIPE = TrainConfig(epochs=8, batch_size=128, lr=0.1, weight_decay=5e-4, schedule="onecycle", seed=0)

CIFAR_RECIPE = TrainConfig(
    epochs=30,
    batch_size=256,
    lr=0.2,
    momentum=0.9,
    weight_decay=5e-4,
    schedule="onecycle",
    warmup_fraction=0.15,
    crop_padding=4,
    flip=True,
    seed=0,
)


def _cifar(name: str, model: str, chapters: tuple[str, ...], purpose: str, target: float | None = 0.85, **changes: Any) -> ZooEntry:
    kwargs = changes.pop("model_kwargs", {})
    return ZooEntry(name, model, "cifar10", replace(CIFAR_RECIPE, **changes), chapters, purpose, kwargs, target=target)


_ENTRIES = [
    ZooEntry(
        "lenet5",
        "lenet5",
        "mnist",
        MNIST_RECIPE,
        ("00", "01", "10"),
        "LeNet-5 as in the 1998 paper (tanh, average pooling) on MNIST padded to 32 x 32",
        pad=2,
        target=0.99,
    ),
    _cifar("resnet20", "resnet20", ("05", "06", "10"), "degradation experiment: the shallow ResNet", target=0.90),
    _cifar("plain20", "plain20", ("05", "06"), "degradation experiment: ResNet-20 without its shortcuts"),
    _cifar("resnet56", "resnet56", ("05", "06"), "degradation experiment: the deep ResNet (must beat resnet20)", target=0.90),
    _cifar("plain56", "plain56", ("05", "06"), "degradation experiment: the deep plain net (He et al. Fig. 6: trains worse than plain20)", target=None),
]

ENTRIES: dict[str, ZooEntry] = {e.name: e for e in _ENTRIES}


def entry(name: str) -> ZooEntry:
    """The entry ``name``; a clear error naming the known entries otherwise."""
    try:
        return ENTRIES[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(ENTRIES), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise UnknownEntryError(f"The zoo has no entry {name!r}.{hint} `python -m cnnlib.zoo list` shows the {len(ENTRIES)} entries.") from None
