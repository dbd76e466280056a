"""The book looked at in a real browser: headless Chromium, offline, at a phone's width and a
laptop's.

:func:`inspect_book` opens every page of a written book (``book/*.html``) in headless
Chromium with the network off and returns what a reader would meet: failed requests and
console errors, requests that left the machine, images that did not load or have no alt
text, fonts that failed, elements wider than the page, ``ns0:`` prefixes or raw ``$`` in the
text, and the book's figures, figure references, citations and reference entries (so a
caller can check that every figure is referenced and every citation resolves).
:func:`screenshot` saves the first screen of a page. Chromium is an ordinary system package
(``apt-get install chromium``); :func:`find_chromium` returns ``None`` where it is absent.

How a page is probed: a copy of the page beside it gets two small scripts (one first in the
head that records console errors and failed loads, one at the end that measures the page
once it has loaded and writes the result into the DOM), Chromium's ``--dump-dom`` prints the
DOM after the page's virtual time has run out, and the result is read back. The book itself
carries no such script.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

#: Names under which Debian, Ubuntu and others install Chromium or Chrome
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Chromium's switches for a headless run with no network and no state
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--hide-scrollbars",
          "--no-first-run", "--disable-extensions", "--disable-background-networking",
          "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>")

_HEAD = """<script>
window.__probe = {errors: []};
(function () {
  const err = console.error.bind(console);
  console.error = (...a) => { window.__probe.errors.push('console: ' + a.join(' ')); err(...a); };
  window.addEventListener('error', e => {
    const t = e.target;
    window.__probe.errors.push(t && t !== window ? 'failed to load: ' + (t.src || t.href)
                                                 : 'error: ' + e.message);
  }, true);
})();
</script>"""

_TAIL = """<script>
window.addEventListener('load', async () => {
  await document.fonts.ready;
  const W = window.innerWidth;
  const scrolls = el => { for (let a = el.parentElement; a; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (['auto', 'scroll', 'hidden'].includes(s.overflowX)) return true; } return false; };
  const wide = [];
  document.querySelectorAll('body *').forEach(el => {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > W + 1 && !scrolls(el))
      wide.push(el.tagName.toLowerCase() + (el.className ? '.' + String(el.className) : '')
                + ' (' + Math.round(r.right) + ' px)');
  });
  const dollars = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n; (n = walk.nextNode());) {
    if (n.parentElement.closest('pre, code, script, style, math')) continue;
    if (n.nodeValue.includes('$')) dollars.push(n.nodeValue.trim().slice(0, 80));
  }
  const result = {
    errors: window.__probe.errors,
    remote: performance.getEntriesByType('resource').map(e => e.name)
              .filter(u => !u.startsWith('file:') && !u.startsWith('data:')),
    broken_images: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))
                     .map(i => i.getAttribute('src')),
    no_alt: [...document.images].filter(i => !i.alt || /No description/.test(i.alt))
              .map(i => i.getAttribute('src')),
    failed_fonts: [...document.fonts].filter(f => f.status === 'error').map(f => f.family),
    math_font: document.fonts.check('16px "STIX Two Math"'),
    page_width: document.documentElement.scrollWidth, viewport: W,
    too_wide: wide.slice(0, 20), n_too_wide: wide.length,
    prefixed: document.documentElement.outerHTML.includes('ns' + '0:'),
    dollars: dollars.slice(0, 10),
    figures: [...document.querySelectorAll('figure[id^="fig-"]')].map(f => f.id),
    figrefs: [...document.querySelectorAll('a.figref')].map(a => a.getAttribute('href')),
    cites: [...document.querySelectorAll('a.cite')].map(a => a.getAttribute('href')),
    references: [...document.querySelectorAll('li[id^="ref-"]')].map(li => li.id),
    n_math: document.querySelectorAll('math').length,
  };
  parent.postMessage(JSON.stringify(result), '*');
});
</script>"""

#: The page that holds the probed page in a frame of the asked width (a frame's viewport is
#: exactly its width, narrower than any headless window) and writes what it reports
_FRAME = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0">
<iframe src="{src}" style="border:0;width:{width}px;height:{height}px"></iframe>
<script>window.addEventListener('message', e => {{
  const pre = document.createElement('pre'); pre.id = 'elbolab-probe';
  pre.textContent = e.data; document.body.appendChild(pre); }});</script></body></html>"""


#: How many times a page is opened before a browser that keeps crashing is an error
ATTEMPTS = 3
#: Headless Chromium's narrowest window: a narrower viewport is probed in a frame
MIN_WINDOW = 500


def find_chromium() -> str | None:
    """The Chromium (or Chrome) executable: ``$ELBOLAB_CHROMIUM`` or the first of
    :data:`CHROMIUM_NAMES` on the ``PATH``; ``None`` where there is none."""
    named = os.environ.get("ELBOLAB_CHROMIUM")
    if named:
        return named if shutil.which(named) else None
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageReport:
    """What one page showed a reader at one width (see the module docstring)."""

    page: str
    width: int
    errors: list[str] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    no_alt: list[str] = field(default_factory=list)
    failed_fonts: list[str] = field(default_factory=list)
    math_font: bool = False
    page_width: int = 0
    viewport: int = 0
    too_wide: list[str] = field(default_factory=list)
    n_too_wide: int = 0
    prefixed: bool = False
    dollars: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    figrefs: list[str] = field(default_factory=list)
    cites: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    n_math: int = 0
    seconds: float = 0.0

    def problems(self) -> list[str]:
        """Every defect on this page, one line each (empty: the page is clean)."""
        out = [f"{self.page} @ {self.width}px: {e}" for e in self.errors + [
            f"request left the machine: {u}" for u in self.remote] + [
            f"image did not load: {s}" for s in self.broken_images] + [
            f"image without alt text: {s}" for s in self.no_alt] + [
            f"font failed: {f}" for f in self.failed_fonts] + [
            f"wider than the page: {w}" for w in self.too_wide] + [
            f"raw $ in the text: {d!r}" for d in self.dollars]]
        if self.page_width > self.viewport + 1:
            out.append(f"{self.page} @ {self.width}px: the page scrolls sideways "
                       f"({self.page_width} px in a {self.viewport} px window)")
        if self.prefixed:
            out.append(f"{self.page} @ {self.width}px: an ns0: namespace prefix in the DOM")
        if self.n_math and not self.math_font:
            out.append(f"{self.page} @ {self.width}px: the math font did not load")
        return out


def probe_page(path: str | Path, width: int, chromium: str | None = None,
               timeout: float = 120) -> PageReport:
    """Open ``path`` (a page of the book) in headless Chromium, offline, ``width`` pixels
    wide, and report what it showed (:class:`PageReport`)."""
    import time

    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("no Chromium found: install the system package (apt-get "
                                "install chromium) or set ELBOLAB_CHROMIUM")
    path = Path(path)
    html = path.read_text()
    html = html.replace('loading="lazy"', "")  # load every figure now, not when scrolled to
    html = re.sub(r"<head>", "<head>" + _HEAD, html, count=1)
    html = html.replace("</body>", _TAIL + "</body>")
    probe = path.with_name(f".probe-{path.name}")
    frame = path.with_name(f".probe-frame-{path.name}")
    probe.write_text(html)
    frame.write_text(_FRAME.format(src=probe.name, width=width, height=900))
    start = time.perf_counter()
    try:
        for _attempt in range(ATTEMPTS):  # a browser that crashes (a container's small
            proc = subprocess.run(         # shared memory, a busy machine) gets another go
                [chromium, *_FLAGS, f"--window-size={max(width, MIN_WINDOW) + 40},940",
                 "--virtual-time-budget=20000", "--dump-dom", frame.resolve().as_uri()],
                capture_output=True, text=True, timeout=timeout)
            found = re.search(r'<pre id="elbolab-probe">(.*?)</pre>', proc.stdout, re.S)
            if found is not None:
                break
    finally:
        probe.unlink(missing_ok=True)
        frame.unlink(missing_ok=True)
    seconds = time.perf_counter() - start
    if found is None:
        raise RuntimeError(f"Chromium did not finish {path.name} (exit {proc.returncode}): "
                           f"{proc.stderr[-800:]}")
    import html as html_lib

    data = json.loads(html_lib.unescape(found.group(1)))
    return PageReport(page=path.name, width=width, seconds=seconds, **data)


def screenshot(path: str | Path, png: str | Path, width: int = 1280, height: int = 900,
               chromium: str | None = None, timeout: float = 120) -> Path:
    """Save the first screen of ``path`` (``width`` × ``height``, at least
    :data:`MIN_WINDOW` wide) as ``png``."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("no Chromium found: install the system package (apt-get "
                                "install chromium) or set ELBOLAB_CHROMIUM")
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([chromium, *_FLAGS, f"--window-size={width},{height}",
                    "--virtual-time-budget=5000", f"--screenshot={png.resolve()}",
                    Path(path).resolve().as_uri()],
                   capture_output=True, timeout=timeout, check=False)
    if not png.exists():
        raise RuntimeError(f"Chromium wrote no screenshot of {path}")
    return png


def inspect_book(book: str | Path, widths: tuple[int, ...] = (400, 1280),
                 screenshots: str | Path | None = None) -> list[PageReport]:
    """Probe every page of the book folder ``book`` at each of ``widths``; with
    ``screenshots``, also save each page's first screen at 1280 px there."""
    chromium = find_chromium()
    reports = []
    for page in sorted(Path(book).glob("*.html")):
        for width in widths:
            reports.append(probe_page(page, width, chromium))
        if screenshots is not None:
            screenshot(page, Path(screenshots) / f"{page.stem}.png", chromium=chromium)
    return reports


def book_problems(reports: list[PageReport]) -> list[str]:
    """The defects of the whole book: every page's own (:meth:`PageReport.problems`), a
    figure no text refers to, a figure reference or citation that leads nowhere."""
    out = [p for r in reports for p in r.problems()]
    figures = {f"{r.page}#{f}" for r in reports for f in r.figures}
    refs = {(h if "#" in h and not h.startswith("#") else f"{r.page}{h}")
            for r in reports for h in r.figrefs}
    out += [f"figure never referenced from the text: {f}" for f in sorted(figures - refs)]
    out += [f"figure reference leads nowhere: {h}" for h in sorted(refs - figures)]
    entries = {f"{r.page}#{i}" for r in reports for i in r.references}
    cites = {h for r in reports for h in r.cites}
    out += [f"citation not in the bibliography: {c}" for c in sorted(cites - entries)]
    return out


__all__ = ["CHROMIUM_NAMES", "PageReport", "book_problems", "find_chromium", "inspect_book",
           "probe_page", "screenshot"]
