"""Every architecture of the course, from scratch, behind one registry."""

from . import lenet, resnet  # noqa: F401  (importing registers the builders)
from .lenet import LeNet5
from .registry import ModelInfo, UnknownModelError, get_model, list_models, model_info, register_model

__all__ = ["LeNet5", "ModelInfo", "UnknownModelError", "get_model", "list_models", "model_info", "register_model"]
