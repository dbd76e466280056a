"""The report's size and load time in headless Chromium, before (one page) and after (the book).

    python benchmarks/bench_book.py --before OLD_LAB_OUTPUT --after NEW_LAB_OUTPUT [--repeat 5]

``--before`` is the output folder of a lab whose ``report.html`` is the old single page (every
figure embedded), ``--after`` one whose ``report.html`` opens ``book/``. Both are measured in
one run on the same machine: bytes a reader's browser loads (the page with its images, style
sheet and fonts), and the seconds headless Chromium needs to load and draw the page's first
screen (`--screenshot`, network off), minus the seconds it needs for an empty page (its own
start), median of ``--repeat`` runs. For the book: the front page, each chapter page, and all
of them together (a reader who reads every chapter). Writes
``benchmarks/results/book_load_cpu.md``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import write_report  # noqa: E402

from elbolab.presentation.browser import _FLAGS, find_chromium  # noqa: E402


def page_bytes(page: Path) -> int:
    """The page and every local file it loads (images, style sheet, the style sheet's fonts)."""
    html = page.read_text()
    total = page.stat().st_size
    seen = set()
    for ref in re.findall(r'(?:src|href)="([^"#:]+\.(?:png|css|woff2))"', html):
        path = (page.parent / ref).resolve()
        if path not in seen and path.exists():
            seen.add(path)
            total += path.stat().st_size
            if path.suffix == ".css":
                for font in re.findall(r'url\("([^"]+)"\)', path.read_text()):
                    f = (path.parent / font).resolve()
                    if f not in seen and f.exists():
                        seen.add(f)
                        total += f.stat().st_size
    return total


def load_seconds(chromium: str, page: Path, repeat: int) -> float:
    """Median wall seconds of headless Chromium loading ``page`` and drawing its first screen."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            start = time.perf_counter()
            subprocess.run([chromium, *_FLAGS, "--window-size=1280,900",
                            f"--screenshot={tmp}/s.png", page.resolve().as_uri()],
                           capture_output=True, timeout=300, check=False)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="a lab output with the old report.html")
    parser.add_argument("--after", required=True, help="a lab output with book/")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        print("bench_book: no Chromium installed (apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        blank = Path(tmp) / "blank.html"
        blank.write_text("<!DOCTYPE html><html><body></body></html>")
        start = load_seconds(chromium, blank, args.repeat)
    before = Path(args.before) / "report.html"
    book = Path(args.after) / "book"
    pages = [book / "index.html"] + sorted(p for p in book.glob("*.html")
                                           if p.name not in ("index.html", "references.html"))
    rows = [("before: report.html, one page", page_bytes(before),
             load_seconds(chromium, before, args.repeat) - start)]
    for page in pages:
        rows.append((f"after: book/{page.name}", page_bytes(page),
                     load_seconds(chromium, page, args.repeat) - start))
    every = sum(b for name, b, _ in rows[1:]) - (len(rows) - 2) * (
        (book / "book.css").stat().st_size + (book / "fonts" / "STIX2Math.woff2").stat().st_size)
    lines = [
        "# The report in headless Chromium: size and load time, before and after",
        "",
        f"Command: `python benchmarks/bench_book.py --before {args.before} --after {args.after} "
        f"--repeat {args.repeat}`",
        "",
        f"Seconds to load and draw the first screen (1280×900, network off), median of "
        f"{args.repeat}, minus Chromium's own start on an empty page ({start:.2f} s). Bytes: the "
        "page and every local file it loads.",
        "",
        "| page | bytes | seconds |",
        "| --- | ---: | ---: |",
        *(f"| {name} | {b:,} | {s:.2f} |" for name, b, s in rows),
        f"| after: every page of the book, read in turn (style sheet and font loaded once) | "
        f"{every:,} | {sum(s for _, _, s in rows[1:]):.2f} |",
    ]
    out = write_report("book_load", "cpu", lines, args.out)
    print("\n".join(lines))
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
