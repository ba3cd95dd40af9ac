"""ImageNet and its challenge, the facts chapter 00 teaches with their sources.

- ``IMAGENET`` and ``ILSVRC_CLASSIFICATION``: the sizes of ImageNet and of the challenge's subset;
- ``ILSVRC_WINNERS`` and ``HUMAN_TOP5_ERROR``: the classification winners of the ImageNet Large
  Scale Visual Recognition Challenge by year, and the human benchmark, each with its source.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "HUMAN_TOP5_ERROR",
    "ILSVRC_CLASSIFICATION",
    "ILSVRC_WINNERS",
    "IMAGENET",
    "RUSSAKOVSKY_2015",
    "IlsvrcResult",
]

RUSSAKOVSKY_2015 = (
    "Russakovsky et al., ImageNet Large Scale Visual Recognition Challenge, IJCV 115(3), 2015, "
    "https://arxiv.org/abs/1409.0575"
)

# ImageNet as a whole and the ILSVRC classification subset (used 2012-2017).
IMAGENET = {
    "images": 14_197_122,  # image-net.org, "about" page statistics (the fall 2011 release)
    "synsets": 21_841,  # WordNet noun synsets with images, same source
    "source": (
        "https://image-net.org/about.php; Deng et al., ImageNet: A Large-Scale Hierarchical Image Database, CVPR 2009"
    ),
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
