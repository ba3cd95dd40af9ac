"""A lecture notebook as the slides it becomes, and the checks every deck must pass.

The grouping follows nbconvert's reveal.js exporter (and RISE): the first visible cell opens
the first slide; a cell of type ``slide`` or ``subslide`` opens a new (sub)slide; ``fragment``
and ``-`` cells join the current one; ``notes`` cells become its speaker notes; ``skip`` cells
are left out. One :class:`Slide` is one screen, a ``<section>`` that reveal.js counts.

The height of a slide is estimated in rendered lines at the deck's font size (see
:data:`SCREEN`): a code line is one line; a prose line wraps every :data:`WRAP` characters; a
heading takes two lines; an image in the markdown :data:`IMAGE_LINES`. About :data:`MAX_LINES`
fit on a 1280×720 slide (the browser tests measure the slides the rule accepts).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = [
    "MAX_LINES",
    "MAX_COLUMNS",
    "SCREEN",
    "Slide",
    "figure_problems",
    "has_image_output",
    "image_references",
    "link_problems",
    "markdown_images",
    "read_lecture",
    "rendered_lines",
    "slide_problems",
    "slides",
    "solution_problems",
    "title_problems",
    "wide_code_lines",
]

SCREEN = (1280, 720)  # the deck's size in CSS pixels (build.py sets reveal.js to it)
MAX_LINES = 30  # rendered lines of source that fit on one slide at the deck's font sizes
MAX_COLUMNS = 100  # characters per code line on a slide
WRAP = 110  # characters of prose per rendered line at the deck's body font size
IMAGE_LINES = 16  # a figure in the markdown: the deck shows it at most 400 px tall

_HEADING = re.compile(r"^#{1,6}\s")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")
_HTML_IMG = re.compile(r"<img\s[^>]*src=\"([^\"]+)\"", re.I)
# words by which a sentence points at the figure that follows it
_REFERRING = re.compile(r"\b(below|next slide|figure|plot|chart|curves?|captions?|panels?|bars|drawn)\b", re.I)


@dataclass
class Slide:
    """One screen of the deck: its visible cells, its speaker notes and where it starts."""

    number: int  # 1-based, in the order reveal.js shows it
    kind: str  # "slide" (a new horizontal slide) or "subslide" (below the previous one)
    first_cell: int  # index of the cell that opens it, in the notebook
    cells: list[int] = field(default_factory=list)  # indices of the visible cells
    notes: list[int] = field(default_factory=list)  # indices of the speaker-notes cells

    def title(self, nb) -> str:
        """The first heading on the slide (or its first line)."""
        for i in self.cells:
            if nb.cells[i].cell_type == "markdown":
                for line in nb.cells[i].source.splitlines():
                    if line.strip():
                        return line.lstrip("#").strip()
        return f"slide {self.number}"


def read_lecture(path: str | Path) -> nbformat.NotebookNode:
    """A lecture (``lectures/*.md`` via jupytext, or a notebook) as an nbformat notebook."""
    path = Path(path)
    if path.suffix == ".ipynb":
        return nbformat.read(path, as_version=4)
    import jupytext

    return jupytext.read(path)


def slide_type(cell) -> str:
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-") or "-"


def is_solution(cell) -> bool:
    return "solution" in cell.get("metadata", {}).get("tags", [])


def source_hidden(cell) -> bool:
    return bool(cell.get("metadata", {}).get("jupyter", {}).get("source_hidden", False))


def slides(nb) -> list[Slide]:
    """The notebook's slides, as nbconvert's reveal.js exporter groups them."""
    out: list[Slide] = []
    for i, cell in enumerate(nb.cells):
        kind = slide_type(cell)
        if kind == "skip":
            continue
        if kind == "notes":
            if out:
                out[-1].notes.append(i)
            continue
        if not out or kind in ("slide", "subslide"):
            out.append(Slide(len(out) + 1, "slide" if not out else kind, i))
        out[-1].cells.append(i)
    return out


def rendered_lines(cell) -> int:
    """Lines of the cell's visible source on a slide (outputs are not counted)."""
    if cell.cell_type == "code":
        return 0 if source_hidden(cell) else len(cell.source.rstrip("\n").splitlines())
    lines = 0
    in_code = False
    for line in cell.source.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            in_code = not in_code
            continue
        if not stripped or re.fullmatch(r"\|?[\s:|-]+\|?", stripped) and "-" in stripped:
            continue  # blank lines and a table's separator row
        if in_code:
            lines += 1
        elif _HEADING.match(stripped):
            lines += 2
        else:
            text = _IMAGE.sub("", _HTML_IMG.sub("", stripped))
            images = len(_IMAGE.findall(stripped)) + len(_HTML_IMG.findall(stripped))
            lines += IMAGE_LINES * images + (math.ceil(len(text) / WRAP) if text else 0)
    return lines


def slide_problems(nb, max_lines: int = MAX_LINES) -> list[str]:
    """Slides whose visible source does not fit the screen."""
    problems = []
    for s in slides(nb):
        n = sum(rendered_lines(nb.cells[i]) for i in s.cells)
        if n > max_lines:
            problems.append(
                f"slide {s.number} ('{s.title(nb)[:50]}', cell {s.first_cell}) has {n} rendered lines of source; "
                f"about {max_lines} fit on a {SCREEN[0]}x{SCREEN[1]} slide: split it or move text to notes"
            )
    return problems


def wide_code_lines(nb, max_columns: int = MAX_COLUMNS) -> list[str]:
    """Visible code lines wider than the slide."""
    problems = []
    for s in slides(nb):
        for i in s.cells:
            cell = nb.cells[i]
            if cell.cell_type != "code" or source_hidden(cell):
                continue
            for j, line in enumerate(cell.source.splitlines(), 1):
                if len(line) > max_columns:
                    problems.append(f"cell {i} line {j} ({len(line)} characters): {line.strip()[:60]}...")
    return problems


def title_problems(nb) -> list[str]:
    """The deck must open on a title slide: a level-1 heading in a markdown cell of type slide."""
    all_slides = slides(nb)
    if not all_slides:
        return ["the notebook has no visible cells"]
    first = nb.cells[all_slides[0].first_cell]
    problems = []
    if slide_type(first) != "slide":
        problems.append(f"the first visible cell has slide type '{slide_type(first)}', not 'slide'")
    if first.cell_type != "markdown" or not first.source.lstrip().startswith("# "):
        problems.append("the first slide does not start with a level-1 heading (the chapter's title)")
    return problems


SOLUTION_MAGIC = "%%solution"  # cnnlib.nbtools: runs the cell, folds what it prints


def solution_problems(nb) -> list[str]:
    """Solution cells: tagged ``solution``, source hidden, skipped in the slides, and run through the
    ``%%solution`` magic so that "Run All" folds their answers instead of showing them."""
    problems = []
    for i, cell in enumerate(nb.cells):
        lines = cell.source.lstrip().splitlines()
        first = lines[0] if lines else ""
        if first.strip() == SOLUTION_MAGIC:
            first = lines[1] if len(lines) > 1 else ""
        looks_like = cell.cell_type == "code" and first.lower().startswith("# solution")
        if not (is_solution(cell) or looks_like):
            continue
        if not is_solution(cell):
            problems.append(f"cell {i} starts with '# Solution' but is not tagged 'solution'")
        if not source_hidden(cell):
            problems.append(f"solution cell {i} does not have its source hidden")
        if slide_type(cell) != "skip":
            problems.append(f"solution cell {i} is not skipped in the slides (slide type '{slide_type(cell)}')")
        if cell.cell_type == "code" and not cell.source.lstrip().startswith(SOLUTION_MAGIC):
            problems.append(f"solution cell {i} does not start with {SOLUTION_MAGIC} (Run All would show its answers)")
    return problems


def has_image_output(cell) -> bool:
    return cell.cell_type == "code" and any(
        any(k.startswith("image/") for k in out.get("data", {})) for out in cell.get("outputs", [])
    )


def _prose(nb, indices) -> str:
    text = []
    for i in indices:
        cell = nb.cells[i]
        if cell.cell_type == "markdown":
            text += [ln for ln in cell.source.splitlines() if ln.strip() and not _HEADING.match(ln.strip())]
    return " ".join(text)


def _sentence(text: str) -> bool:
    """Whether ``text`` holds at least one sentence (six words or more)."""
    return len(re.findall(r"[A-Za-z]{2,}", text)) >= 6


def figure_problems(nb) -> list[str]:
    """Every figure on a slide needs a caption or a sentence that refers to it.

    A figure is a markdown image (its alt text is its caption) or a code cell's image output
    (executed notebooks only). An output figure is explained when its slide, or the slide's
    speaker notes, has a sentence; a slide of code alone counts when the slide before it leads
    into it: its prose ends with a colon, or says where to look ("below", "the curves", "captions").
    """
    problems = []
    all_slides = slides(nb)
    for k, s in enumerate(all_slides):
        prose = _prose(nb, s.cells) + " " + _prose(nb, s.notes)
        before = _prose(nb, all_slides[k - 1].cells).strip() if k else ""
        leads_in = before.endswith(":") or bool(_REFERRING.search(before.split(".")[-2] if "." in before else before))
        for i in s.cells:
            cell = nb.cells[i]
            if cell.cell_type == "markdown":
                for alt, target in markdown_images(cell.source):
                    if not alt.strip() and not _sentence(prose):
                        problems.append(f"slide {s.number}: image {target} has no alt text and no sentence about it")
            elif has_image_output(cell) and not (_sentence(prose) or leads_in):
                problems.append(
                    f"slide {s.number} ('{s.title(nb)[:50]}'): the figure of cell {i} has no caption or sentence "
                    "on its slide, and the slide before does not lead into it"
                )
    return problems


def markdown_images(source: str) -> list[tuple[str, str]]:
    """``(alt text, target)`` of every Markdown image in ``source``."""
    return _IMAGE.findall(source)


def image_references(nb) -> list[str]:
    """The image paths the notebook's markdown refers to (relative ones as written)."""
    refs = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            refs += [target for _, target in _IMAGE.findall(cell.source)]
            refs += _HTML_IMG.findall(cell.source)
    return refs


def link_problems(text: str, base: Path, root: Path | None = None) -> list[str]:
    """Relative links and images in markdown ``text`` that point at nothing.

    ``base`` is the folder the links are relative to. Web links (http, https, mailto) cannot be
    followed offline; they are checked for form only.
    """
    problems = []
    targets = [t for _, t in _LINK.findall(text)] + [t for _, t in _IMAGE.findall(text)] + _HTML_IMG.findall(text)
    for target in targets:
        if re.match(r"^(https?|mailto):", target):
            if not re.match(r"^(https?://[\w.-]+\.[a-z]{2,}(/\S*)?|mailto:\S+@\S+)$", target):
                problems.append(f"malformed web link: {target}")
            continue
        if target.startswith("#"):
            continue
        path = (base / target.split("#")[0]).resolve()
        if not path.exists():
            where = path.relative_to(root) if root and path.is_relative_to(root) else path
            problems.append(f"broken link: {target} (no file {where})")
    return problems
