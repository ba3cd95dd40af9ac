"""``python3 course.py build``: every chapter as a reveal.js deck and a page, and a course site, offline.

The tools are the ones Jupyter itself uses: nbclient executes the notebooks (as the tests do),
nbconvert's reveal.js exporter turns each into the deck RISE would show (the same slide metadata,
speaker notes and fragments), nbconvert's lab exporter turns it into a page, and mistune (nbconvert's
own Markdown renderer) renders the README's chapter table and the zoo's results for the index.
Everything the pages load comes from ``build/`` (see :mod:`.vendor`).

Layout of ``build/``::

    index.html                 the course site: chapters, zoo results, figures
    decks/NN_name.slides.html  one reveal.js deck per chapter (speaker view: press S)
    pages/NN_name.html         one page per chapter, outputs included
    img/                       the course's figures
    vendor/                    reveal.js and MathJax
    executed/                  the executed notebooks (reused while nothing changed)
    manifest.json              per chapter: slides, figures, execution time; the build's time
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import time
from copy import deepcopy
from pathlib import Path

import nbformat

from ..provenance import course_root
from . import execute as _execute
from . import slides as _slides
from . import vendor

__all__ = ["build", "course_preprocess", "deck_path", "page_path"]

TEMPLATES = Path(__file__).with_name("templates")
_PROGRESS = re.compile(r"\d+%\|")


def deck_path(build: Path, name: str) -> Path:
    return build / "decks" / f"{name}.slides.html"


def page_path(build: Path, name: str) -> Path:
    return build / "pages" / f"{name}.html"


def course_preprocess(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What a reader of the decks and pages sees of an executed notebook.

    Solution cells go (with their outputs: an exercise's answer is not given away); a cell whose
    source is hidden in JupyterLab shows only its outputs; a live widget becomes a one-line note
    (a static page has no kernel to drive it; ``controls_explorer`` shows its figure above it);
    progress bars go.
    """
    nb = deepcopy(nb)
    nb.cells = [c for c in nb.cells if not _slides.is_solution(c)]
    for cell in nb.cells:
        if _slides.source_hidden(cell):
            cell.metadata["transient"] = {"remove_source": True}
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                if _PROGRESS.search(data.get("text/plain", "")):
                    continue
                out = nbformat.v4.new_output(
                    "display_data",
                    data={
                        "text/html": '<p class="course-widget-note">Interactive controls: run the notebook in '
                        "JupyterLab to move them.</p>",
                        "text/plain": "(interactive controls: run the notebook)",
                    },
                )
            elif out.get("output_type") == "stream" and out.get("name") == "stderr" and _PROGRESS.search(out["text"]):
                continue
            outputs.append(out)
        cell.outputs = outputs
    nb.metadata.pop("widgets", None)
    return nb


def _exporters(folders: dict[str, str]):
    from nbconvert import HTMLExporter, SlidesExporter

    mathjax = f"../vendor/{folders['mathjax']}/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
    common = dict(extra_template_basedirs=[str(TEMPLATES)], mathjax_url=mathjax, embed_images=True)
    slides = SlidesExporter(
        template_name="course_reveal",
        reveal_url_prefix=f"../vendor/{folders['reveal.js']}",
        reveal_theme="white",
        reveal_transition="none",
        reveal_width="1280",
        reveal_height="720",
        **common,
    )
    page = HTMLExporter(template_name="course_lab", **common)
    return slides, page


def _copy_images(root: Path, build: Path) -> None:
    dest = build / "img"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(root / "img", dest)


def _markdown(text: str) -> str:
    import mistune

    return mistune.create_markdown(escape=False, plugins=["table"])(text)


def _section(text: str, heading: str) -> str:
    """The body of a ``## heading`` section of a Markdown file."""
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if not m:
        raise ValueError(f"no section '## {heading}'")
    return m.group(1)


def _chapter_table(root: Path, names: list[str]) -> str:
    """The README's chapter table, each chapter linked to its page and deck."""
    lines = _section((root / "README.md").read_text(encoding="utf-8"), "Chapters").splitlines()
    table = [ln for ln in lines if ln.startswith("|")]
    out = []
    for ln in table:
        m = re.match(r"\|\s*(\d\d)\s*\|\s*\[([^\]]+)\]\(notebooks/([^)]+)\.ipynb\)[^|]*\|(.*)\|\s*$", ln)
        if m and m.group(3) in names:
            num, title, name, what = m.groups()
            links = f"[{title}](pages/{name}.html) · [slides](decks/{name}.slides.html)"
            out.append(f"| {num} | {links} | {what.strip()} |")
        elif ln.startswith("| #"):
            out.append("| # | chapter | what it demonstrates |")
        elif set(ln.replace("|", "").split()) <= {"---", ":---", "---:"}:
            out.append("| --- | --- | --- |")
        else:
            raise ValueError(f"README chapter row not understood (or its notebook is missing): {ln[:80]}")
    return _markdown("\n".join(out))


def _figures(root: Path, lectures: dict[str, nbformat.NotebookNode]) -> str:
    """Every figure in img/, with the alt text a lecture gives it and the chapters that use it."""
    used: dict[str, list[tuple[str, str]]] = {}
    for name, nb in lectures.items():
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                for alt, target in _slides.markdown_images(cell.source):
                    used.setdefault(Path(target).name, []).append((name, alt))
    items = []
    for path in sorted((root / "img").iterdir()):
        if path.suffix.lower() not in {".svg", ".png", ".jpg", ".jpeg"}:
            continue
        refs = used.get(path.name, [])
        caption = refs[0][1] if refs and refs[0][1] else path.stem.replace("_", " ")
        chapters = ", ".join(f'<a href="pages/{n}.html">{n[:2]}</a>' for n in sorted({n for n, _ in refs}))
        where = f" (chapter {chapters})" if chapters else ""
        items.append(
            f'<figure><img src="img/{path.name}" alt="{html.escape(caption)}" loading="eager">'
            f"<figcaption>{html.escape(caption)}{where}</figcaption></figure>"
        )
    return "\n".join(items)


def _zoo_results(root: Path) -> str:
    text = (root / "data" / "zoo" / "RESULTS.md").read_text(encoding="utf-8")
    text = re.sub(r"^# .*\n", "", text)  # the page has its own heading
    return _markdown(text)


INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px; margin: 2em auto;
       padding: 0 1em; line-height: 1.45; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; margin: 1em 0; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 8px; vertical-align: top; }}
.zoo {{ overflow-x: auto; }}
.figures {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 1.5em; }}
figure {{ margin: 0; }} figure img {{ width: 100%; height: 240px; object-fit: contain; border: 1px solid #eee; }}
figcaption {{ font-size: 0.85em; color: #444; }}
.meta {{ color: #666; font-size: 0.85em; }}
</style></head>
<body>
<h1>{title}</h1>
<p>{intro}</p>
<p>Each chapter as a page (the executed notebook, outputs included) and as slides (reveal.js; press
<kbd>S</kbd> for the speaker view with the notes, <kbd>Esc</kbd> for the overview). To run the code,
open the notebooks in JupyterLab (<code>python3 course.py start</code>).</p>
<h2 id="chapters">Chapters</h2>
{chapters}
<h2 id="zoo">The zoo: the course's own trained models</h2>
<div class="zoo">{zoo}</div>
<h2 id="figures">Figures</h2>
<div class="figures">{figures}</div>
<p class="meta">Built {built} on {hardware}.</p>
</body></html>
"""


def build(
    root: Path | None = None,
    out: Path | None = None,
    *,
    reuse: bool = True,
    only: list[str] | None = None,
    log=print,
) -> dict:
    """Execute (or reuse) every notebook and export the decks, the pages and the index into ``out``."""
    from ..runtime import hardware_summary

    t0 = time.perf_counter()
    root = root or course_root()
    out = out or root / "build"
    names = sorted(p.stem for p in (root / "notebooks").glob("*.ipynb"))
    unknown = sorted(set(only or []) - set(names))
    if unknown:
        raise ValueError(f"no chapter notebook named {unknown}; the chapters are {names}")
    folders = vendor.install(out / "vendor")
    _copy_images(root, out)
    slides_exporter, page_exporter = _exporters(folders)
    manifest = {"chapters": {}}
    if (out / "manifest.json").exists():
        manifest = json.loads((out / "manifest.json").read_text())
    lectures = {}
    for name in names:
        nb = _slides.read_lecture(root / "notebooks" / f"{name}.ipynb")
        lectures[name] = nb
        if only and name not in only:
            continue
        t = time.perf_counter()
        executed = _execute.execute(root / "notebooks" / f"{name}.ipynb", reuse=reuse, build=out, log=log)
        shown = course_preprocess(executed)
        resources = {"metadata": {"name": name, "path": str(root / "notebooks")}}
        for exporter, dest in ((slides_exporter, deck_path(out, name)), (page_exporter, page_path(out, name))):
            body, _ = exporter.from_notebook_node(shown, resources=deepcopy(resources))
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(body, encoding="utf-8")
        deck = _slides.slides(executed)
        manifest["chapters"][name] = {
            "title": deck[0].title(executed),
            "slides": len(deck),
            "notes": sum(bool(s.notes) for s in deck),
            "figure_slides": [
                s.number for s in deck if any(_slides.has_image_output(executed.cells[i]) for i in s.cells)
            ],
            "executed": executed.metadata["cnnlib_build"],
            "export_seconds": round(time.perf_counter() - t, 1),
        }
        log(f"{name}: {len(deck)} slides -> {deck_path(out, name).name}, {page_path(out, name).name}")
    index = INDEX.format(
        title="Convolutional network architectures, from LeNet-5 to RepVGG",
        intro=html.escape(
            "An executable course: every chapter is a Jupyter notebook that runs on a laptop without a GPU, "
            "and every claim it makes is demonstrated by code that runs, next to the published figure it echoes."
        ),
        chapters=_chapter_table(root, names),
        zoo=_zoo_results(root),
        figures=_figures(root, lectures),
        built=time.strftime("%Y-%m-%d %H:%M"),
        hardware=html.escape(hardware_summary()),
    )
    (out / "index.html").write_text(index, encoding="utf-8")
    manifest["seconds"] = round(time.perf_counter() - t0, 1)
    manifest["built"] = time.strftime("%Y-%m-%d %H:%M")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    log(f"built {out / 'index.html'} in {manifest['seconds']:.0f} s")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cnnlib.presentation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: build/ in the course folder)")
    parser.add_argument("--force", action="store_true", help="execute every notebook again, even if nothing changed")
    parser.add_argument("chapters", nargs="*", help="only these notebooks (e.g. 01_lenet); default: all")
    args = parser.parse_args(argv)
    build(out=args.out, reuse=not args.force, only=args.chapters or None)
