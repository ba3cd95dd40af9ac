"""Every architecture of the course, from scratch, behind one registry.

Each family lives in its own module; importing this package imports every module,
which registers its public builders (``cnnlib.list_models()`` lists them).
"""

import importlib
import pkgutil

from .lenet import LeNet5
from .registry import ModelInfo, UnknownModelError, build_on_meta, get_model, list_models, model_info, register_model

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name not in ("registry", "blocks"):
        importlib.import_module(f"{__name__}.{_module.name}")

from .torchvision_compat import TORCHVISION_EQUIVALENTS  # noqa: E402

__all__ = [
    "LeNet5",
    "ModelInfo",
    "TORCHVISION_EQUIVALENTS",
    "UnknownModelError",
    "build_on_meta",
    "get_model",
    "list_models",
    "model_info",
    "register_model",
]
