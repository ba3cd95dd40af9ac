"""The repository's own rules: paired lectures, clean notebooks, agreeing dependency lists, working links."""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import tomllib
import yaml

REPO = Path(__file__).resolve().parents[1]
LECTURES = sorted((REPO / "lectures").glob("*.md"))
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_every_lecture_has_its_notebook_and_back():
    assert LECTURES, "no lecture sources found"
    assert {p.stem for p in LECTURES} == {p.stem for p in NOTEBOOKS}, "run: jupytext --sync lectures/*.md"


def _inputs(nb) -> list[tuple]:
    ignore = {"id", "execution"}
    return [
        (cell.cell_type, cell.source.strip(), {k: v for k, v in cell.metadata.items() if k not in ignore})
        for cell in nb.cells
    ]


@pytest.mark.parametrize("lecture", LECTURES, ids=lambda p: p.stem)
def test_lecture_and_notebook_inputs_agree(lecture):
    notebook = REPO / "notebooks" / f"{lecture.stem}.ipynb"
    from_md = jupytext.read(lecture)
    from_ipynb = nbformat.read(notebook, as_version=4)
    assert _inputs(from_md) == _inputs(from_ipynb), (
        f"{lecture.name} and {notebook.name} drifted: run jupytext --sync {lecture.relative_to(REPO)}"
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_committed_without_outputs(notebook):
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{notebook.name}: clear the outputs before committing"
            )


@pytest.mark.parametrize("lecture", LECTURES, ids=lambda p: p.stem)
def test_lecture_structure_and_slides(lecture):
    nb = jupytext.read(lecture)
    kinds = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    assert kinds[0] == "slide" and nb.cells[0].source.startswith("# "), "the first cell is the title slide"
    assert kinds.count("slide") >= 8 and "fragment" in kinds and "notes" in kinds and "skip" in kinds
    text = "\n".join(c.source for c in nb.cells)
    assert "## Exercises" in text and "## Solutions" in text and "## References" in text
    assert "exercises.check_" in text, "at least one exercise has a cnnlib checker"
    imports_cnnlib = re.compile(r"^(import cnnlib|from cnnlib[. ])", re.MULTILINE)
    assert any(imports_cnnlib.search(c.source) for c in nb.cells[:6]), "the set-up cell imports cnnlib"


def _linked_files(lecture: Path) -> list[str]:
    text = lecture.read_text()
    return re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text) + re.findall(r'<img[^>]+src="([^"]+)"', text)


@pytest.mark.parametrize("lecture", LECTURES, ids=lambda p: p.stem)
def test_images_in_lectures_exist(lecture):
    for target in _linked_files(lecture):
        if target.startswith(("http://", "https://")):
            continue
        # links are written relative to notebooks/ (the same depth as lectures/)
        assert (REPO / "notebooks" / target).resolve().is_file(), f"{lecture.name}: missing image {target}"


def test_static_figures_are_reproducible_sources():
    for image in (REPO / "img").iterdir():
        if image.suffix == ".svg":
            assert image.read_text().lstrip().startswith("<svg"), f"{image.name} is not a hand-editable SVG source"
        else:
            source = [
                p
                for p in (REPO / "img").iterdir()
                if p.stem == image.stem and p.suffix in (".py", ".svg") and p != image
            ]
            assert source, f"{image.name} has no source (an .svg or a generating .py) beside it"


def _normalise(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    name = {"pytorch": "torch"}.get(name.lower(), name.lower()).replace("_", "-")
    return name, spec.replace(" ", "")


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pip_side = dict(_normalise(r) for r in project["dependencies"] + project["optional-dependencies"]["test"])
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda_side = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            conda_side.update(_normalise(r) for r in dep["pip"] if not r.startswith("-"))
        elif not dep.startswith(("python", "pip")):
            conda_side.update([_normalise(dep)])
    assert conda_side == pip_side


def test_readme_gives_two_commands_and_ci_runs_the_second():
    readme = (REPO / "README.md").read_text()
    assert "python3 course.py start" in readme and "python3 course.py test" in readme
    ci = (REPO / ".ci" / "run").read_text()
    assert "python3 course.py test" in ci and "CNNLIB_MIRROR=../shared/mirror" in ci
    for lecture in LECTURES:
        assert f"notebooks/{lecture.stem}.ipynb" in readme, f"README does not link chapter {lecture.stem}"


def test_the_tree_is_formatted_and_linted():
    """ruff, with the project's configuration (pyproject.toml), finds nothing to change in the Python sources."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    paths = ["cnnlib", "tests", "benchmarks", "course.py", "conftest.py"]
    for args in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        done = subprocess.run([ruff, *args, *paths], cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, (
            f"`ruff {' '.join(args)}` found problems (run `ruff check --fix` and `ruff format`):\n"
            f"{done.stdout}{done.stderr}"
        )


def test_every_folder_of_cnnlib_is_a_package():
    """A folder without __init__.py is left out of the installed package (setuptools' find): a new chapter would
    vanish."""
    folders = {p.parent for p in (REPO / "cnnlib").rglob("*.py") if "__pycache__" not in p.parts}
    missing = sorted(str(f.relative_to(REPO)) for f in folders if not (f / "__init__.py").is_file())
    assert not missing, f"add an __init__.py (with a docstring saying what the package holds) to {missing}"
