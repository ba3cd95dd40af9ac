"""The package's layers, enforced: every import inside ``cnnlib`` goes in an allowed direction.

The picture (lower layers never import higher ones)::

    foundation   errors, io, runtime                  import nothing of cnnlib
    models       the architectures                    foundation only: no data, no training
    data         datasets, augmentation               foundation
    analysis     techniques by topic                  models, data, foundation
    checkpoint   saving and loading weights           models, foundation
    train        the loop, speed rule, plans          models, data, checkpoint, analysis.activations
    zoo          the trained checkpoints              train, data, models, analysis, checkpoint
    viz, widgets figures and explorers                never anything that trains
    chapters     one package per chapter              anything; only lectures, tests and CLIs import them

Every ``import`` and ``from ... import`` in the source is checked, at any depth (imports inside
functions too), with relative imports resolved. The one dynamic import,
:func:`cnnlib.chapters.chapter_modules` (how the experiments registry finds the chapters'
experiments without naming them), is by design invisible here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "cnnlib"

FOUNDATION = {"cnnlib.errors", "cnnlib.io", "cnnlib.runtime"}
ANALYSIS_BASE = {"cnnlib.models", "cnnlib.data", "cnnlib.analysis"} | FOUNDATION

# Layer (a module or package, by longest matching prefix) -> what it may import of cnnlib.
ALLOWED: dict[str, set[str]] = {
    "cnnlib": {"cnnlib.models"},  # the top-level __init__ re-exports the registry
    "cnnlib.errors": set(),
    "cnnlib.io": set(),
    "cnnlib.runtime": set(),
    "cnnlib.provenance": {"cnnlib.runtime"},
    "cnnlib.models": {"cnnlib.models", "cnnlib.errors"},
    "cnnlib.testing": {"cnnlib.models"} | FOUNDATION,
    "cnnlib.data": {"cnnlib.data"} | FOUNDATION,
    "cnnlib.checkpoint": {"cnnlib.models"} | FOUNDATION,
    "cnnlib.pretrained": {"cnnlib.models", "cnnlib.data"} | FOUNDATION,
    "cnnlib.analysis": ANALYSIS_BASE,
    "cnnlib.train": {"cnnlib.train", "cnnlib.models", "cnnlib.data", "cnnlib.checkpoint", "cnnlib.analysis.activations"}
    | FOUNDATION,
    "cnnlib.zoo": {"cnnlib.zoo", "cnnlib.train", "cnnlib.checkpoint", "cnnlib.provenance"} | ANALYSIS_BASE,
    "cnnlib.experiments": {"cnnlib.experiments", "cnnlib.chapters", "cnnlib.provenance"} | FOUNDATION,
    "cnnlib.viz": ANALYSIS_BASE,
    "cnnlib.widgets": {"cnnlib.viz"} | ANALYSIS_BASE,
    "cnnlib.nbtools": {"cnnlib.data"} | FOUNDATION,
    "cnnlib.chapters": {"cnnlib"},  # anything
}
# The chapters' infrastructure (cnnlib.chapters itself: chapter_modules, passed) is not a chapter.
CHAPTER_PACKAGE = re.compile(r"^cnnlib\.chapters\.ch\d\d")
# Command-line tools are entry points, like the lectures: they may import chapters too.
CLI_EXTRA = {"cnnlib.chapters"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import of cnnlib in ``source``."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from . import data` imports the submodule cnnlib.data: each name may be a module, so check
            # target.name too (for a function, target.name lies within target and changes nothing)
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
            found.append((node.lineno, target))
    return [(line, name) for line, name in found if name == "cnnlib" or name.startswith("cnnlib.")]


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _layer(module: str) -> str:
    return max((key for key in ALLOWED if _within(module, key)), key=len)


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """The imports of ``source`` (the code of ``module``) that go against :data:`ALLOWED`."""
    layer = _layer(module)
    allowed = set(ALLOWED[layer]) | {layer}
    if module.endswith(".__main__"):
        allowed |= CLI_EXTRA
    bad: dict[int, str] = {}  # one report per import statement
    # per statement, a chapter named among its targets is the message to give
    for line, target in sorted(
        _imports(source, module, is_package), key=lambda t: (t[0], CHAPTER_PACKAGE.match(t[1]) is None, t[1])
    ):
        if line in bad:
            continue
        if target == "cnnlib" and layer == "cnnlib":
            continue
        if target == "cnnlib" and layer != "cnnlib.chapters":  # `from .. import data` is checked by its names
            continue
        into_chapter = CHAPTER_PACKAGE.match(target) is not None
        if into_chapter and layer != "cnnlib.chapters" and not module.endswith(".__main__"):
            bad[line] = f"{module}:{line} imports {target}: only lectures, tests, CLIs and chapters import a chapter"
        elif not any(_within(target, a) for a in allowed):
            bad[line] = f"{module}:{line} imports {target}: layer {layer!r} may import only {sorted(allowed)}"
    return list(bad.values())


def test_every_import_in_cnnlib_goes_in_an_allowed_direction():
    files = sorted(ROOT.rglob("*.py"))
    assert len(files) > 40
    bad = []
    for path in files:
        module = _module_name(path)
        bad += violations(module, path.read_text(), is_package=path.name == "__init__.py")
    assert not bad, "imports against the layering (see this file's docstring):\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("cnnlib.models.lenet", "from ..train import fit", "layer 'cnnlib.models' may import only"),
        ("cnnlib.models.lenet", "from ..data import normalize", "layer 'cnnlib.models' may import only"),
        ("cnnlib.data.sources", "import cnnlib.models", "layer 'cnnlib.data' may import only"),
        ("cnnlib.viz", "from .train import fit", "layer 'cnnlib.viz' may import only"),
        ("cnnlib.analysis.tta", "from ..zoo import load", "layer 'cnnlib.analysis' may import only"),
        (
            "cnnlib.zoo.build",
            "from ..chapters.ch06_why_resnet import degradation",
            "only lectures, tests, CLIs and chapters",
        ),
        ("cnnlib.zoo.report", "from ..chapters import ch06_why_resnet", "only lectures, tests, CLIs and chapters"),
        (
            "cnnlib.analysis.lesion",
            "def f():\n    from cnnlib.chapters.ch04_googlenet import table1",
            "only lectures, tests",
        ),
        ("cnnlib.train.loop", "from ..analysis.lesion import ablate", "layer 'cnnlib.train' may import only"),
    ],
)
def test_a_forbidden_import_is_reported(module, source, expected):
    (message,) = violations(module, source)
    assert expected in message and module in message


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("cnnlib.models.resnet", "from .blocks import ConvNormAct\nfrom ..errors import UnknownNameError"),
        ("cnnlib.train.loop", "from ..analysis.activations import eval_mode\nfrom ..runtime import pick_device"),
        ("cnnlib.zoo.__main__", "from ..chapters.ch06_why_resnet.degradation import degradation_section"),
        ("cnnlib.chapters.ch02_alexnet.experiments", "from ... import zoo\nfrom ...train import fit"),
        ("cnnlib.experiments", "from ..chapters import chapter_modules"),
    ],
)
def test_an_allowed_import_is_not_reported(module, source):
    assert violations(module, source, is_package=module == "cnnlib.experiments") == []
