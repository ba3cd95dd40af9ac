"""cnnlib: the shared package of the course *Convolutional network architectures, from LeNet-5 to RepVGG*.

Notebooks import it; every piece of logic the lectures use is defined here once and unit-tested.
"""

from .models import build_on_meta, get_model, list_models, model_info

__version__ = "0.1.0"
__all__ = ["build_on_meta", "get_model", "list_models", "model_info", "__version__"]
