"""Every registry model has a default Grad-CAM layer, and it is the registry's own."""

from __future__ import annotations

import pytest
import torch.nn as nn

from cnnlib.interpret import AttributionError, GradCAM, default_layer
from cnnlib.models import build_on_meta, list_models, model_info


@pytest.mark.parametrize("name", list_models())
def test_default_layer_is_the_registry_gradcam_layer(name):
    assert default_layer(build_on_meta(name)) == model_info(name).gradcam_layer


def test_a_model_outside_the_registry_must_name_its_layer():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(AttributionError, match="layer="):
        GradCAM(net)
    assert GradCAM(net, layer="0").layer_name == "0"
