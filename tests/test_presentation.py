"""Slide quality, parametrised over ``lectures/``: a chapter added later is checked without edits.

Static checks read the lecture sources; the checks marked ``presentation`` read the executed
notebooks and the decks that ``python3 course.py build`` makes (the session builds them once,
after the notebook tests, reusing those runs' outputs).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from cnnlib.presentation import slides as S

REPO = Path(__file__).resolve().parents[1]
LECTURES = sorted((REPO / "lectures").glob("*.md"))
NAMES = [p.stem for p in LECTURES]


def lecture_params():
    return [pytest.param(path, id=path.stem) for path in LECTURES]


@pytest.fixture(scope="module")
def lecture_nbs():
    return {p.stem: S.read_lecture(p) for p in LECTURES}


def test_lectures_and_notebooks_pair_up():
    assert NAMES, "no lectures found"
    assert NAMES == sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", lecture_params())
def test_title_slide(path, lecture_nbs):
    assert S.title_problems(lecture_nbs[path.stem]) == []


@pytest.mark.parametrize("path", lecture_params())
def test_every_slide_fits_the_screen(path, lecture_nbs):
    assert S.slide_problems(lecture_nbs[path.stem]) == []


@pytest.mark.parametrize("path", lecture_params())
def test_code_lines_fit_the_slide(path, lecture_nbs):
    problems = S.wide_code_lines(lecture_nbs[path.stem])
    assert problems == [], f"{len(problems)} code lines over {S.MAX_COLUMNS} characters, e.g. {problems[:3]}"


@pytest.mark.parametrize("path", lecture_params())
def test_solutions_are_hidden_and_skipped(path, lecture_nbs):
    assert S.solution_problems(lecture_nbs[path.stem]) == []


@pytest.mark.parametrize("path", lecture_params())
def test_images_have_captions_and_links_resolve(path, lecture_nbs):
    nb = lecture_nbs[path.stem]
    assert [p for p in S.figure_problems(nb)] == []
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    # the notebooks live in notebooks/, the lectures in lectures/: both one level below the course
    assert S.link_problems(text, REPO / "notebooks", REPO) == []


def test_readme_links_resolve():
    for doc in [REPO / "README.md", *sorted((REPO / "data").rglob("*.md"))]:
        assert S.link_problems(doc.read_text(encoding="utf-8"), doc.parent, REPO) == [], doc


@pytest.mark.parametrize("path", lecture_params())
def test_referenced_images_exist_and_parse(path, lecture_nbs):
    for ref in S.image_references(lecture_nbs[path.stem]):
        if ref.startswith(("http:", "https:", "data:")):
            continue
        image = (REPO / "notebooks" / ref).resolve()
        assert image.is_file(), f"{ref}: no such file"
        if image.suffix == ".svg":
            root = ET.parse(image).getroot()
            assert root.tag.endswith("svg"), f"{ref} is not an SVG document"
            assert root.get("viewBox") or (root.get("width") and root.get("height")), f"{ref} has no size"
        else:
            from PIL import Image

            with Image.open(image) as im:
                im.verify()


# --- the checker itself, on a small notebook whose answers are known -----------------------


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    for kind, source, meta in cells:
        cell = (nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell)(source)
        cell.metadata.update(meta)
        nb.cells.append(cell)
    return nb


def _slide(kind):
    return {"slideshow": {"slide_type": kind}}


def test_slides_group_like_nbconvert():
    nb = _nb(
        ("code", "from cnnlib import start", _slide("skip")),
        ("md", "# Title\n\nIntro", _slide("slide")),
        ("md", "speaker notes", _slide("notes")),
        ("md", "## Two", _slide("subslide")),
        ("code", "x = 1", _slide("fragment")),
        ("code", "y = 2", {}),
        ("md", "## Three", _slide("slide")),
    )
    decks = S.slides(nb)
    assert [(s.number, s.kind, s.cells, s.notes) for s in decks] == [
        (1, "slide", [1], [2]),
        (2, "subslide", [3, 4, 5], []),
        (3, "slide", [6], []),
    ]
    assert S.title_problems(nb) == []
    assert S.rendered_lines(nb.cells[1]) == 3  # a heading is two lines, a short sentence one


def test_checks_catch_what_they_should():
    long_code = "\n".join(f"x{i} = {i}" for i in range(S.MAX_LINES + 1))
    solution = {"tags": ["solution"], **_slide("-")}
    nb = _nb(
        ("md", "Not a title", _slide("slide")),
        ("code", long_code, {}),
        ("code", "y = '" + "a" * S.MAX_COLUMNS + "'", _slide("subslide")),
        ("code", "# Solution 1\nanswer = 42", solution),
        ("md", "![](../img/none.svg)", _slide("slide")),
    )
    assert len(S.title_problems(nb)) == 1
    assert len(S.slide_problems(nb)) == 1
    assert len(S.wide_code_lines(nb)) == 1
    assert len(S.solution_problems(nb)) == 3  # neither hidden nor skipped nor run through %%solution
    assert len(S.figure_problems(nb)) == 1  # an image with no alt text and no sentence about it
    assert S.link_problems("see [x](missing.md) and [y](https://example.org)", REPO, REPO) == [
        "broken link: missing.md (no file missing.md)"
    ]


def test_a_well_formed_solution_passes():
    solution = {"tags": ["solution"], "jupyter": {"source_hidden": True}, **_slide("skip")}
    nb = _nb(("md", "# Title", _slide("slide")), ("code", "%%solution\n# Solution 1\nprint(42)", solution))
    assert S.solution_problems(nb) == []
    nb.cells[1].source = "# Solution 1\nprint(42)"  # without the magic, Run All would print 42
    (problem,) = S.solution_problems(nb)
    assert problem == "solution cell 1 does not start with %%solution (Run All would show its answers)"


def test_figure_outputs_need_a_sentence():
    figure = nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})
    nb = _nb(("md", "## Loss", _slide("slide")), ("code", "plot()", {}))
    nb.cells[1].outputs = [figure]
    assert len(S.figure_problems(nb)) == 1
    nb.cells[0].source = "## Loss\n\nThe curves show the training loss per epoch."
    assert S.figure_problems(nb) == []


# --- the executed notebooks and the decks (built once per session) -------------------------


@pytest.mark.presentation
@pytest.mark.parametrize("name", NAMES)
def test_figures_are_referred_to(name, site):
    executed = nbformat.read(site["build"] / "executed" / f"{name}.ipynb", as_version=4)
    assert S.figure_problems(executed) == []


@pytest.mark.presentation
@pytest.mark.parametrize("name", NAMES)
def test_deck_shows_no_solution_and_no_hidden_source(name, site):
    executed = nbformat.read(site["build"] / "executed" / f"{name}.ipynb", as_version=4)
    deck = (site["build"] / "decks" / f"{name}.slides.html").read_text(encoding="utf-8")
    page = (site["build"] / "pages" / f"{name}.html").read_text(encoding="utf-8")
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        # the whole hidden source (single lines of it may be shown elsewhere: an exercise's signature,
        # the library's code on a slide)
        hidden = cell.source if len(cell.source.strip()) > 20 else None
        if S.is_solution(cell):
            for out in cell.outputs:
                text = out.get("text") or out.get("data", {}).get("text/plain", "")
                line = next((ln for ln in text.splitlines() if len(ln.strip()) > 12), None)
                if line:
                    assert _escaped(line) not in deck and _escaped(line) not in page, f"solution output shown: {line}"
        if (S.is_solution(cell) or S.source_hidden(cell)) and hidden:
            assert _code_text(hidden) not in _code_text_of(deck), f"hidden source shown in the deck: {hidden[:80]}"


def _escaped(text: str) -> str:
    import html

    return html.escape(text.strip(), quote=False)


def _code_text(line: str) -> str:
    return re.sub(r"\s+", "", line)


def _code_text_of(html_text: str) -> str:
    """The deck's text with Pygments' spans and whitespace removed, to find a source line in it."""
    import html

    return re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]+>", "", html_text)))
