"""The package's layers, enforced: every import inside ``cnnlib`` goes in an allowed direction.

The picture (lower layers never import higher ones; :data:`ALLOWED` is the reference, the
README's table says the same in words)::

    foundation   errors, io, runtime            import nothing of cnnlib
    models       the architectures              their own modules and the unknown-name error: no data, no training
    data         datasets, augmentation         the foundation
    analysis     techniques by topic            models, data, the foundation
    checkpoint   saving and loading weights     models, the foundation
    train        the loop, speed rule, plans    models, data, checkpoint, analysis.activations, the foundation
    zoo          the trained checkpoints        train, checkpoint, provenance, analysis, models, data, foundation
    viz, widgets figures and explorers          never anything that trains or fits (train, zoo, analysis but
                                                widgets' activations)
    presentation decks, pages, the site         the foundation, provenance, the data cache's location
    chapters     one package per chapter        anything; only lectures, tests, CLIs and chapters import one

Every ``import`` and ``from ... import`` in the source is checked, at any depth (imports inside
functions too), with relative imports resolved. A module the table does not place is an error
(add it to the table), and so is a dynamic import (``importlib.import_module``, ``__import__``)
outside the three places that need one: the model registry finds its files, the chapters'
registry finds their experiments, and a checkpoint names the classes it stores.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "cnnlib"

FOUNDATION = {"cnnlib.errors", "cnnlib.io", "cnnlib.runtime"}
ANALYSIS_BASE = {"cnnlib.models", "cnnlib.data", "cnnlib.analysis"} | FOUNDATION
CHAPTER = "a chapter"  # the layer of every cnnlib.chapters.chNN_slug package

# Layer -> what it may import of cnnlib (a name covers its submodules). A module's layer is the
# longest key it lies within; "cnnlib" is only the top-level __init__ (which re-exports the registry).
ALLOWED: dict[str, set[str]] = {
    "cnnlib": {"cnnlib.models"},
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
    "cnnlib.interpret": {"cnnlib.interpret"} | ANALYSIS_BASE,
    "cnnlib.train": {"cnnlib.train", "cnnlib.models", "cnnlib.data", "cnnlib.checkpoint", "cnnlib.analysis.activations"}
    | FOUNDATION,
    "cnnlib.zoo": {"cnnlib.zoo", "cnnlib.train", "cnnlib.checkpoint", "cnnlib.provenance"} | ANALYSIS_BASE,
    "cnnlib.experiments": {"cnnlib.experiments", "cnnlib.chapters", "cnnlib.provenance"} | FOUNDATION,
    "cnnlib.viz": FOUNDATION,
    "cnnlib.widgets": {"cnnlib.viz", "cnnlib.models", "cnnlib.data", "cnnlib.analysis.activations"} | FOUNDATION,
    "cnnlib.nbtools": {"cnnlib.models", "cnnlib.data", "cnnlib.viz"} | FOUNDATION,
    # the decks and the site: runs notebooks in kernels, never a model itself
    "cnnlib.presentation": {"cnnlib.presentation", "cnnlib.provenance", "cnnlib.data.sources"} | FOUNDATION,
    "cnnlib.chapters": set(),  # the chapters' registry itself (chapter_modules, passed) is not a chapter
    CHAPTER: {"cnnlib"},  # anything
}
CHAPTER_PACKAGE = re.compile(r"^cnnlib\.chapters\.ch\d\d_[a-z0-9_]+")
CHAPTER_FOLDER = re.compile(r"^ch\d\d_[a-z0-9_]+$")
# The only modules that may import by a computed name (see the module docstring).
DYNAMIC_IMPORTS = {"cnnlib.models", "cnnlib.chapters", "cnnlib.checkpoint"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import of cnnlib in ``tree``."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
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
            if target != "cnnlib" or node.module is not None:
                found.append((node.lineno, target))
    return [(line, name) for line, name in found if name == "cnnlib" or name.startswith("cnnlib.")]


def _dynamic_imports(tree: ast.AST) -> list[int]:
    """Lines that call ``importlib.import_module``, ``import_module`` or ``__import__``."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("import_module", "__import__"):
                lines.append(node.lineno)
    return lines


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _layer(module: str) -> str | None:
    if module == "cnnlib":
        return "cnnlib"
    if CHAPTER_PACKAGE.match(module):
        return CHAPTER
    keys = [key for key in ALLOWED if key not in ("cnnlib", CHAPTER) and _within(module, key)]
    return max(keys, key=len) if keys else None


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """The imports of ``source`` (the code of ``module``) that go against :data:`ALLOWED`."""
    layer = _layer(module)
    if layer is None:
        return [f"{module} is in no layer: add it to ALLOWED in tests/test_layering.py (and to the README's table)"]
    allowed = ALLOWED[layer] | ({layer} if layer not in ("cnnlib", CHAPTER) else set())
    cli = module.endswith(".__main__")  # an entry point, like the lectures: it may import chapters
    tree = ast.parse(source)
    bad: dict[int, str] = {}  # one report per import statement
    # per statement, a chapter named among its targets is the message to give
    for line, target in sorted(
        _imports(tree, module, is_package), key=lambda t: (t[0], CHAPTER_PACKAGE.match(t[1]) is None, t[1])
    ):
        if line in bad or layer == CHAPTER:
            continue
        if CHAPTER_PACKAGE.match(target):
            if not cli:
                bad[line] = (
                    f"{module}:{line} imports {target}: only lectures, tests, CLIs and chapters import a chapter"
                )
        elif target == "cnnlib":  # `import cnnlib` gives the top level, which is the model registry
            if not any(_within("cnnlib.models", a) for a in allowed):
                bad[line] = f"{module}:{line} imports cnnlib (the model registry): layer {layer!r} may not"
        elif not any(_within(target, a) for a in allowed):
            bad[line] = f"{module}:{line} imports {target}: layer {layer!r} may import only {sorted(allowed)}"
    if layer not in DYNAMIC_IMPORTS:
        for line in _dynamic_imports(tree):
            bad.setdefault(line, f"{module}:{line} imports by a computed name, which this test cannot check")
    return list(bad.values())


def test_every_import_in_cnnlib_goes_in_an_allowed_direction():
    files = sorted(ROOT.rglob("*.py"))
    assert len(files) > 40
    bad = []
    for path in files:
        module = _module_name(path)
        bad += violations(module, path.read_text(), is_package=path.name == "__init__.py")
    assert not bad, "imports against the layering (see this file's docstring):\n" + "\n".join(bad)


def test_chapter_folders_are_named_so_that_the_registry_and_this_test_find_them():
    from cnnlib.chapters import chapters

    folders = sorted(p.name for p in (ROOT / "chapters").iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders and all(CHAPTER_FOLDER.match(name) for name in folders), folders
    assert chapters() == folders


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("cnnlib.models.lenet", "from ..train import fit", "layer 'cnnlib.models' may import only"),
        ("cnnlib.models.lenet", "from ..data import normalize", "layer 'cnnlib.models' may import only"),
        ("cnnlib.data.sources", "import cnnlib.models", "layer 'cnnlib.data' may import only"),
        ("cnnlib.data.sources", "import cnnlib", "layer 'cnnlib.data' may not"),
        ("cnnlib.viz", "from .train import fit", "layer 'cnnlib.viz' may import only"),
        ("cnnlib.viz", "from .analysis.transfer import fit_linear_probe", "layer 'cnnlib.viz' may import only"),
        ("cnnlib.analysis.tta", "from ..zoo import load", "layer 'cnnlib.analysis' may import only"),
        ("cnnlib.zoo.build", "from ..chapters.ch06_why_resnet import degradation", "only lectures, tests, CLIs"),
        ("cnnlib.zoo.report", "from ..chapters import ch06_why_resnet", "only lectures, tests, CLIs and chapters"),
        ("cnnlib.zoo.report", "import cnnlib.chapters.ch02_alexnet.figures as f", "only lectures, tests"),
        ("cnnlib.analysis.lesion", "def f():\n    from cnnlib.chapters.ch04_googlenet import table1", "only lectures"),
        ("cnnlib.train.loop", "from ..analysis.lesion import ablate", "layer 'cnnlib.train' may import only"),
        ("cnnlib.train.loop", "import importlib\nm = importlib.import_module('cnnlib.zoo')", "computed name"),
        ("cnnlib.viz", "m = __import__('cnnlib.train')", "computed name"),
        ("cnnlib.chapters", "from cnnlib.zoo import load", "layer 'cnnlib.chapters' may import only"),
        ("cnnlib.new_module", "from .models import get_model", "is in no layer: add it to ALLOWED"),
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
        ("cnnlib.chapters.ch02_alexnet.experiments", "from ... import zoo\nfrom ...train import fit\nimport cnnlib"),
        ("cnnlib.experiments", "from ..chapters import chapter_modules"),
        ("cnnlib.nbtools", "import cnnlib\nfrom .runtime import pick_device"),
        ("cnnlib.zoo.build", "from .. import data as cdata"),
    ],
)
def test_an_allowed_import_is_not_reported(module, source):
    assert violations(module, source, is_package=module == "cnnlib.experiments") == []
