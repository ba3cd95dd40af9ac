"""The built decks, pages and site in a real browser (headless Chromium, offline but for 127.0.0.1).

Screenshots are kept as test artefacts in ``build/screenshots/``: each deck's title slide, a slide
with a figure, its speaker view, the site's index.
"""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest

from cnnlib.presentation import slides as S

from .browser import chromium, console_errors, failed_requests, screenshot, static_server, wait_for

REPO = Path(__file__).resolve().parents[1]
NAMES = sorted(p.stem for p in (REPO / "lectures").glob("*.md"))

pytestmark = pytest.mark.presentation


@pytest.fixture(scope="module")
def served(site):
    with static_server(site["build"]) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


def _go_to(driver, number: int) -> None:
    """Show slide ``number`` (1-based, in reveal.js's order), with all its fragments."""
    driver.execute_script(
        "const i = Reveal.getIndices(Reveal.getSlides()[arguments[0] - 1]); Reveal.slide(i.h, i.v);"
        "Reveal.getCurrentSlide().querySelectorAll('.fragment').forEach(f => f.classList.add('visible'));",
        number,
    )
    wait_for(driver, f"Reveal.getSlidePastCount() === {number - 1}", what=f"slide {number}")


def _clean(driver) -> tuple[list[str], list[str]]:
    return console_errors(driver), failed_requests(driver)


def _open_deck(driver, url: str) -> None:
    driver.get(url)
    wait_for(driver, "window.Reveal && Reveal.isReady()", what="reveal.js to start")
    # MathJax typesets the whole deck once after load; wait until its queue is empty
    wait_for(
        driver,
        "!window.MathJax || (MathJax.Hub && MathJax.Hub.queue.pending === 0 && MathJax.Hub.queue.running === 0)",
        timeout=60,
        what="MathJax",
    )


@pytest.mark.parametrize("name", NAMES)
def test_deck_loads_and_navigates(name, site, served, browser):
    shots = site["build"] / "screenshots"
    executed = nbformat.read(site["build"] / "executed" / f"{name}.ipynb", as_version=4)
    expected = S.slides(executed)
    _clean(browser)  # forget what earlier pages logged
    _open_deck(browser, f"{served}decks/{name}.slides.html")
    errors, failed = _clean(browser)
    assert errors == [], f"console errors on load: {errors}"
    assert failed == [], f"failed requests on load: {failed}"

    assert browser.execute_script("return Reveal.getTotalSlides()") == len(expected)
    title = browser.execute_script("return Reveal.getCurrentSlide().innerText")
    assert expected[0].title(executed).lower() in title.lower(), (
        f"the deck does not open on the title slide: {title[:80]}"
    )
    assert screenshot(browser, shots / f"{name}-title.png")["ink"] > 0.005

    # forward through every slide and fragment, as a presenter pressing the right arrow would;
    # on each slide, measure the height of its visible source (the cells' inputs, not their outputs)
    seen, source_px = set(), {}
    for _ in range(2000):
        h, v = browser.execute_script("var i = Reveal.getIndices(); return [i.h, i.v]")
        if (h, v) not in seen:
            source_px[len(seen) + 1] = browser.execute_script(
                "return Array.from(Reveal.getCurrentSlide().querySelectorAll('.jp-Cell-inputWrapper'))"
                ".reduce((sum, e) => sum + e.offsetHeight, 0)"
            )
        seen.add((h, v))
        if browser.execute_script("return Reveal.isLastSlide() && !Reveal.availableFragments().next"):
            break
        browser.execute_script("Reveal.next()")
    assert len(seen) == len(expected), f"visited {len(seen)} of {len(expected)} slides"
    errors, failed = _clean(browser)
    assert errors == [] and failed == [], f"while navigating: {errors + failed}"
    # the slide rule counts lines (tests/test_presentation.py); the browser checks that count: every
    # slide within the rule's 30 lines measures within the 720 px of the slide
    lines = {s.number: sum(S.rendered_lines(executed.cells[i]) for i in s.cells) for s in expected}
    too_tall = {n: px for n, px in source_px.items() if lines[n] <= S.MAX_LINES and px > S.SCREEN[1]}
    assert too_tall == {}, f"slides the line count accepts but whose source measures over 720 px: {too_tall}"

    figure_slides = site["manifest"]["chapters"][name]["figure_slides"]
    if figure_slides:
        number = figure_slides[0]
        _go_to(browser, number)
        ink = screenshot(browser, shots / f"{name}-figure.png")
        assert ink["ink"] > 0.02 and ink["std"] > 10, f"the figure slide {number} looks blank: {ink}"


@pytest.mark.parametrize("name", NAMES)
def test_speaker_view_shows_the_notes(name, site, served, browser):
    executed = nbformat.read(site["build"] / "executed" / f"{name}.ipynb", as_version=4)
    with_notes = [s for s in S.slides(executed) if s.notes]
    assert with_notes, f"{name} has no speaker notes at all"
    target = with_notes[0]
    words = executed.cells[target.notes[0]].source.split()
    probe = " ".join(w for w in words[:12] if w.isalpha())[:30] or words[0]
    _open_deck(browser, f"{served}decks/{name}.slides.html")
    _go_to(browser, target.number)
    assert probe.split()[0] in browser.execute_script("return Reveal.getSlideNotes() || ''")
    main = browser.current_window_handle
    before = set(browser.window_handles)
    browser.execute_script("Reveal.getPlugin('notes').open()")  # what the S key does
    deadline = time.monotonic() + 20
    while not (popups := set(browser.window_handles) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert popups, "the speaker view did not open"
    browser.switch_to.window(popups.pop())
    try:
        shown = wait_for(
            browser,
            "(document.querySelector('.speaker-controls-notes .value') || {}).innerText",
            timeout=20,
            what="the speaker view's notes",
        )
        assert probe.split()[0] in shown, f"speaker view shows {shown[:80]!r}, not the slide's notes"
        if name == NAMES[0]:
            screenshot(browser, site["build"] / "screenshots" / f"{name}-speaker-view.png")
    finally:
        browser.close()
        browser.switch_to.window(main)
    errors, failed = _clean(browser)
    assert errors == [] and failed == [], errors + failed


@pytest.mark.parametrize("name", NAMES)
def test_page_loads_offline(name, served, browser):
    _clean(browser)
    browser.get(f"{served}pages/{name}.html")
    wait_for(browser, "document.readyState === 'complete'")
    wait_for(browser, "!window.MathJax || (MathJax.Hub && MathJax.Hub.queue.pending === 0)", timeout=60)
    errors, failed = _clean(browser)
    assert errors == [] and failed == [], errors + failed
    assert browser.execute_script("return document.querySelectorAll('.jp-Cell').length") > 10


def test_site_index_links_resolve_and_images_render(site, served, browser):
    _clean(browser)
    browser.get(served + "index.html")
    wait_for(browser, "document.readyState === 'complete'")
    wait_for(browser, "Array.from(document.images).every(i => i.complete)", what="the figures to load")
    errors, failed = _clean(browser)
    assert errors == [] and failed == [], errors + failed
    screenshot(browser, site["build"] / "screenshots" / "index.png")

    images = browser.execute_script("return Array.from(document.images).map(i => [i.src, i.naturalWidth])")
    assert len(images) == len([p for p in (REPO / "img").iterdir() if p.suffix in {".svg", ".png", ".jpg"}])
    assert [src for src, width in images if not width] == [], "figures that did not render"

    links = browser.execute_script("return Array.from(document.links).map(a => a.href)")
    local = [u for u in links if u.startswith(served)]
    for name in NAMES:  # every chapter's page and deck is linked
        assert f"{served}pages/{name}.html" in local and f"{served}decks/{name}.slides.html" in local
    for url in sorted(set(local)):
        path, _, fragment = url.partition("#")
        with urllib.request.urlopen(path) as response:
            assert response.status == 200, url
            body = response.read().decode("utf-8", "replace")
        if fragment and path.endswith("index.html"):
            assert f'id="{urllib.parse.unquote(fragment)}"' in body, f"no anchor #{fragment} in {path}"
    elsewhere = [u for u in links if not u.startswith(served)]
    assert all(u.startswith("https://") for u in elsewhere), elsewhere
