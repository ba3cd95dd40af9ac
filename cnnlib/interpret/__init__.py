"""Interpreting CNNs: attribution maps, class-model visualisation, receptive fields, and their checks.

One module per method family, one call shape for all attribution methods
(``Method(model, layer=...).attribute(x, target=...)`` -> ``N x H x W``; see :mod:`.base`):

- :mod:`.occlusion`: occlusion analysis (Zeiler & Fergus 2014);
- :mod:`.gradients`: vanilla gradient saliency (Simonyan et al. 2014), SmoothGrad, Integrated Gradients;
- :mod:`.backprop`: guided backpropagation and the DeconvNet rule;
- :mod:`.cam`: CAM (Zhou et al. 2016) and Grad-CAM (Selvaraju et al. 2017);
- :mod:`.class_model`: class-model visualisation by gradient ascent on the input (Simonyan et al. 2014);
- :mod:`.receptive`: the effective receptive field (Luo et al. 2016) beside the theoretical one;
- :mod:`.sanity`: cascading model randomisation (Adebayo et al. 2018);
- :mod:`.faithfulness`: deletion and insertion curves (Petsiuk et al. 2018).
"""

from .backprop import Deconvnet, GuidedBackprop
from .base import AttributionError, Method, conv_layer_names
from .cam import CAM, GradCAM, default_layer
from .class_model import ClassModel
from .faithfulness import area_under_curve, deletion_curve
from .gradients import IntegratedGradients, Saliency, SmoothGrad
from .occlusion import Occlusion
from .receptive import effective_receptive_field, field_extent, theoretical_receptive_field
from .sanity import cascading_randomization

METHODS = {
    "occlusion": Occlusion,
    "gradient": Saliency,
    "smoothgrad": SmoothGrad,
    "integrated gradients": IntegratedGradients,
    "guided backprop": GuidedBackprop,
    "deconvnet": Deconvnet,
    "cam": CAM,
    "grad-cam": GradCAM,
}

__all__ = [
    "CAM",
    "METHODS",
    "AttributionError",
    "ClassModel",
    "Deconvnet",
    "GradCAM",
    "GuidedBackprop",
    "IntegratedGradients",
    "Method",
    "Occlusion",
    "Saliency",
    "SmoothGrad",
    "area_under_curve",
    "cascading_randomization",
    "conv_layer_names",
    "deletion_curve",
    "default_layer",
    "effective_receptive_field",
    "field_extent",
    "theoretical_receptive_field",
]
