"""Chapter 03 checkers accept right answers and reject wrong ones with a hint; the chapter's drawing matches the
table."""

from pathlib import Path

import pytest
import torch.nn as nn

from cnnlib.chapters.ch03_vgg import exercises
from cnnlib.chapters.ch03_vgg.figures import drawn_stage_depths
from cnnlib.models import vgg

REPO = Path(__file__).resolve().parents[2]


def rf_right(layers):
    size, jump = 1, 1
    for kernel, stride in layers:
        size += (kernel - 1) * jump
        jump *= stride
    return size


def test_receptive_field_checker():
    assert exercises.check_receptive_field_size(rf_right)
    with pytest.raises(AssertionError, match="Hint"):  # forgets the jump: right for stride-1 stacks only
        exercises.check_receptive_field_size(lambda layers: 1 + sum(k - 1 for k, _ in layers))
    with pytest.raises(AssertionError, match="Hint"):  # multiplies kernels
        exercises.check_receptive_field_size(lambda layers: max(k for k, _ in layers) * len(layers))


def block_right(c_in, c_out, n):
    layers = []
    for i in range(n):
        layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.MaxPool2d(2, 2))


def test_vgg_block_checker():
    assert exercises.check_vgg_block(block_right)
    no_pad = lambda c_in, c_out, n: nn.Sequential(
        *[m for i in range(n) for m in (nn.Conv2d(c_in if i == 0 else c_out, c_out, 3), nn.ReLU())], nn.MaxPool2d(2)
    )
    with pytest.raises(AssertionError, match="pad"):
        exercises.check_vgg_block(no_pad)
    one_relu = lambda c_in, c_out, n: nn.Sequential(
        *[nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1) for i in range(n)], nn.ReLU(), nn.MaxPool2d(2)
    )
    with pytest.raises(AssertionError, match="ReLU"):
        exercises.check_vgg_block(one_relu)
    five = lambda c_in, c_out, n: nn.Sequential(
        *[m for i in range(n) for m in (nn.Conv2d(c_in if i == 0 else c_out, c_out, 5, padding=2), nn.ReLU())],
        nn.MaxPool2d(2),
    )
    with pytest.raises(AssertionError, match="3×3"):
        exercises.check_vgg_block(five)
    with pytest.raises(AssertionError, match="convolutions"):
        exercises.check_vgg_block(lambda c_in, c_out, n: block_right(c_in, c_out, 1))


def test_vgg16_classifier_checker():
    # VGG-16 on 32x32 images, 10 classes: FC6 reads the 512@1x1 map of the last pool
    right = {"FC6": 512 * 4096 + 4096, "FC7": 4096 * 4096 + 4096, "FC8": 4096 * 10 + 10}
    assert exercises.check_vgg16_classifier_counts(right)
    convs = 14_714_688  # VGG-16's convolutions, the same at every input size
    share = sum(right.values()) / (sum(right.values()) + convs)
    assert exercises.check_vgg16_classifier_counts({**right, "share": share})
    with pytest.raises(AssertionError, match="FC6"):
        exercises.check_vgg16_classifier_counts({**right, "FC6": 25088 * 4096 + 4096})  # the 224x224 head
    with pytest.raises(AssertionError, match="share"):
        exercises.check_vgg16_classifier_counts({**right, "share": 0.5})
    with pytest.raises(AssertionError, match="missing"):
        exercises.check_vgg16_classifier_counts({"FC6": 1})


def test_the_vgg19_drawing_matches_configurations_d_and_e(tmp_path):
    drawn = drawn_stage_depths(REPO / "img" / "vgg19.svg")
    assert drawn == {"VGG-19": vgg.stage_depths("E"), "VGG-16": vgg.stage_depths("D")}
    assert [n for n, _ in drawn["VGG-19"]] == [2, 2, 4, 4, 4] and [c for _, c in drawn["VGG-19"]] == [
        64,
        128,
        256,
        512,
        512,
    ]
    wrong = tmp_path / "wrong.svg"  # a drawing with mixed widths in one stage is refused
    wrong.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg"><g class="network" data-name="x">'
        '<rect class="conv" data-stage="1" data-channels="64"/>'
        '<rect class="conv" data-stage="1" data-channels="128"/></g></svg>'
    )
    with pytest.raises(ValueError, match="different widths"):
        drawn_stage_depths(wrong)


def test_the_miscopied_drawing_has_exactly_its_two_errors():
    from cnnlib.chapters.ch03_vgg.figures import miscopied_vgg19

    drawn = drawn_stage_depths(miscopied_vgg19(REPO / "img" / "vgg19.svg"))
    table = vgg.stage_depths("E")
    wrong = [i for i, (d, t) in enumerate(zip(drawn["VGG-19"], table)) if d != t]
    assert wrong == [3, 4]  # stages 4 and 5
    assert drawn["VGG-19"][3] == (3, 512) and drawn["VGG-19"][4] == (4, 256)
    assert drawn["VGG-16"] == vgg.stage_depths("D")  # VGG-16 is left as it was
