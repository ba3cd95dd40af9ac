"""Checkers for the chapters' exercises, one module per chapter.

Each checker takes the student's answer, raises ``AssertionError`` with a hint
when it is wrong, and prints what was verified when it is right. The reference
answers come from PyTorch itself (a real layer, a real model), never from a
second hand-written formula. Notebooks call them as ``exercises.check_...``.
"""

from .alexnet import *  # noqa: F401,F403
from .inception import *  # noqa: F401,F403
from .intro import *  # noqa: F401,F403
from .lenet import *  # noqa: F401,F403
from .vgg import *  # noqa: F401,F403
