"""cnnlib.analysis.summary: the LeNet-5 table, number by number, and agreement with torchinfo's own count."""

import pytest
import torchinfo

import cnnlib
from cnnlib.analysis.summary import count_mult_adds, count_parameters, layer_table

LENET_ROWS = [
    # name, type, output shape, parameters, multiply-adds (per image, no bias)
    ("features.0", "Conv2d", (6, 28, 28), 156, 6 * 28 * 28 * 25),
    ("features.1", "Tanh", (6, 28, 28), 0, 0),
    ("features.2", "AvgPool2d", (6, 14, 14), 0, 0),
    ("features.3", "Conv2d", (16, 10, 10), 2_416, 16 * 10 * 10 * 6 * 25),
    ("features.4", "Tanh", (16, 10, 10), 0, 0),
    ("features.5", "AvgPool2d", (16, 5, 5), 0, 0),
    ("features.6", "Conv2d", (120, 1, 1), 48_120, 120 * 16 * 25),
    ("features.7", "Tanh", (120, 1, 1), 0, 0),
    ("classifier.0", "Linear", (84,), 10_164, 84 * 120),
    ("classifier.1", "Tanh", (84,), 0, 0),
    ("classifier.2", "Linear", (10,), 850, 10 * 84),
]


def test_lenet5_table_exactly():
    table = layer_table(cnnlib.get_model("lenet5"), (1, 32, 32))
    assert [(r.name, r.kind, r.output_shape, r.params, r.mult_adds) for r in table.rows] == LENET_ROWS
    assert table.total_params == 61_706
    assert table.total_mult_adds == 416_520
    assert table["features.0"].shape_text == "6@28x28"
    text = table.to_text()
    assert "61,706" in text and "416,520" in text and "6@28x28" in text
    assert "<table>" in table._repr_html_()
    with pytest.raises(KeyError, match="no layer"):
        table["features.99"]


def test_connections_match_the_paper_for_c1():
    """LeCun et al. 1998 count C1's 'connections' as 122,304 = multiply-adds + one bias per output."""
    row = layer_table(cnnlib.get_model("lenet5"), (1, 32, 32))["features.0"]
    assert row.mult_adds + 6 * 28 * 28 == row.connections == 122_304
    table = layer_table(cnnlib.get_model("lenet5"), (1, 32, 32))
    assert table["features.6"].connections == 48_120 and table["classifier.0"].connections == 10_164
    assert table["features.2"].connections == 0  # pooling without weights


def test_agrees_with_torchinfo_macs():
    """PyTorch's FLOP counter counts the multiply-adds of convolutions and matrix products only;
    torchinfo adds one per bias and per BatchNorm parameter. Apart from that they agree."""
    import torch.nn as nn

    model = cnnlib.get_model("resnet20")
    stats = torchinfo.summary(model, input_size=(1, 3, 32, 32), verbose=0)
    ours = count_mult_adds(model, (3, 32, 32))
    assert ours == 40_551_040  # 3x3 convolutions + the fc layer, per image
    assert stats.total_params == count_parameters(model) == 269_722
    bn_params = sum(p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    assert stats.total_mult_adds - ours == bn_params + model.fc.bias.numel() == 1_386


def test_depth_and_containers():
    table = layer_table(cnnlib.get_model("resnet20"), (3, 32, 32), leaves_only=False, depth=1)
    assert [r.name for r in table.rows] == ["stem", "layer1", "layer2", "layer3", "pool", "fc"]
    assert sum(r.params for r in table.rows) == 269_722
    assert sum(r.mult_adds for r in table.rows) == table.total_mult_adds
