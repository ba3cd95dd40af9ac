"""Exercise checkers accept right answers and reject wrong ones with a hint."""

import pytest
import torch.nn as nn

from cnnlib.chapters.ch01_lenet import exercises


def test_conv_output_size_checker():
    assert exercises.check_conv_output_size(lambda size, k, stride=1, padding=0: (size + 2 * padding - k) // stride + 1)
    with pytest.raises(AssertionError, match="Hint"):
        exercises.check_conv_output_size(lambda size, k, stride=1, padding=0: size - k + 1)


def test_parameter_count_checker():
    # the colour LeNet-5 with a 3x3 C5, counted by hand: (3*25+1)*6, (6*25+1)*16, (16*9+1)*120, (1080+1)*84, 85*10
    right = {"C1": 456, "C3": 2416, "C5": 17400, "F6": 90804, "output": 850}
    assert exercises.check_lenet_parameter_counts(right)
    with pytest.raises(AssertionError, match="C5"):
        exercises.check_lenet_parameter_counts({**right, "C5": 48120})  # the 5x5 C5 of the printed table
    with pytest.raises(AssertionError, match="C1"):
        exercises.check_lenet_parameter_counts({**right, "C1": 156})  # one input channel
    with pytest.raises(AssertionError, match="missing"):
        exercises.check_lenet_parameter_counts({"C1": 456})


def lenet(first_padding: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=first_padding),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(16, 120, 5 if first_padding else 4),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(120, 84),
        nn.Tanh(),
        nn.Linear(84, 10),
    )


def test_lenet28_checker():
    assert exercises.check_lenet28(lenet(2))
    with pytest.raises(AssertionError):
        exercises.check_lenet28(lenet(0))  # a shrunken C5 instead: other parameter count and C1 shape
