"""Interactive explorers for the notebooks (ipywidgets), one module per chapter plus the shared ones.

Each explorer first draws a static figure for its default selection as a normal
cell output, so an executed notebook (CI, a static HTML or slide export) still
shows something useful; the controls below it redraw into their own output area
when a live kernel is attached.
"""

from .alexnet import *  # noqa: F401,F403
from .common import *  # noqa: F401,F403
from .inception import *  # noqa: F401,F403
from .intro import *  # noqa: F401,F403
from .vgg import *  # noqa: F401,F403
