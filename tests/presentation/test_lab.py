"""End to end: `elbolab lab --quick` executes the notebook and writes every output."""

import json
import os
import re
import subprocess
import sys

import jupytext
import nbformat
import pytest
import torch
from conftest import HAVE_MNIST, SHARED

from elbolab.presentation.chapters import CHAPTERS, chapter, with_needs
from elbolab.presentation.checklist import coverage
from elbolab.presentation.cli import main
from elbolab.presentation.kernel import progress_line
from elbolab.presentation.lab import (
    LAB_MARK,
    LabConfig,
    cell_sections,
    chapter_key,
    claim_lab_folder,
    inject_parameters,
)
from elbolab.presentation.validation import COMPARATORS, KINDS, PARTS
from elbolab.settings import ConfigError


def test_the_lab_writes_only_into_a_folder_that_is_its_own(tmp_path):
    claim_lab_folder(tmp_path / "new")
    assert (tmp_path / "new" / LAB_MARK).exists()
    (tmp_path / "new" / "anything.txt").write_text("x")
    claim_lab_folder(tmp_path / "new")  # marked: a rerun replaces what the lab wrote there
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("x")
    (theirs / "metrics.json").write_text("{}")
    with pytest.raises(ValueError, match=r"did not write \(thesis.tex\).*another --out"):
        claim_lab_folder(theirs)
    assert not (theirs / LAB_MARK).exists()
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        claim_lab_folder(tmp_path / "a_file")
    old = tmp_path / "old"  # an earlier version's lab output (no mark): still the lab's
    old.mkdir()
    (old / "lab3_elbo.ipynb").write_text("{}")
    (old / "extra.csv").write_text("")
    claim_lab_folder(old)


@pytest.mark.parametrize("spec", CHAPTERS, ids=lambda c: c.id)
def test_every_chapter_is_percent_format_with_a_parameters_cell(spec):
    text = spec.source.read_text()
    assert "# %% [markdown]" in text
    nb = jupytext.read(spec.source)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "QUICK" in tagged[0].source
    inject_parameters(nb, {"QUICK": True, "DATA_DIR": None})
    i = nb.cells.index(tagged[0])
    assert nb.cells[i + 1].source.endswith("QUICK = True\nDATA_DIR = None\n")
    # it makes its own Chapter, and ends by writing its validations
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert any(f'Chapter("{spec.id}"' in c for c in code) and code[-1] == "ch.finish()"


def test_chapters_run_with_what_they_need_in_book_order():
    assert [c.id for c in with_needs(("5",))] == ["4", "5"]
    assert [c.id for c in with_needs(("a2", "1"))] == ["1", "4", "A2"]
    assert with_needs(None) == CHAPTERS
    assert [c.id for c in with_needs(("A5",))] == [c.id for c in CHAPTERS]  # it reads them all
    ids = [c.id for c in CHAPTERS]
    assert all(ids.index(n) < ids.index(c.id) for c in CHAPTERS for n in c.needs)
    with pytest.raises(ValueError, match="chapter must be one of 1, 2"):
        chapter("8")
    assert LabConfig(chapter="a1").chapter == "A1"
    with pytest.raises(ConfigError, match="must be one of 1, 2, .*got '9'"):
        LabConfig(chapter="9")


def test_a_chapter_is_reused_only_when_its_source_and_inputs_are_unchanged():
    five = chapter("5")
    params = {"QUICK": True, "SEED": 0}
    key = chapter_key(five, params, "lib", ["k4"])
    assert key == chapter_key(five, dict(params), "lib", ["k4"])
    assert key != chapter_key(five, {**params, "SEED": 1}, "lib", ["k4"])  # its parameters
    assert key != chapter_key(five, params, "lib2", ["k4"])  # the library
    assert key != chapter_key(five, params, "lib", ["k4-changed"])  # a chapter it needs
    assert key != chapter_key(chapter("4"), params, "lib", ["k4"])  # its source


def test_progress_line_reads_tqdm_bars_and_nothing_else():
    """A chunk of stderr made only of tqdm states gives its last state, shortened; a chunk
    with any other text (a warning, a message) is not a bar and stays in the notebook."""
    chunk = ("\rddpm:  10%|█         | 800/8000 [00:05<00:45, 160.00it/s]"
             "\rddpm:  20%|██        | 1600/8000 [00:10<00:40, 160.00it/s]")
    assert progress_line(chunk) == "ddpm 1600/8000 [00:10<00:40]"
    assert progress_line("train:  0%|          | 0/3 [00:00<?, ?epoch/s]\n") == \
        "train 0/3 [00:00<?]"
    assert progress_line("β sweep: 100%|██████████| 10/10 [00:17<00:00,  1.7s/epoch]\n") == \
        "β sweep 10/10 [00:17<00:00]"
    assert progress_line("UserWarning: something\n") is None
    assert progress_line(chunk + "\nRuntimeWarning: overflow\n") is None
    assert progress_line("") is None and progress_line("\n\r") is None


@pytest.mark.parametrize("spec", CHAPTERS, ids=lambda c: c.id)
def test_every_code_cell_is_named_by_its_section(spec):
    nb = jupytext.read(spec.source)
    sections = cell_sections(nb)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    assert sorted(sections) == code
    assert sections[code[1]].startswith(("Chapter", "Appendix")), sections[code[1]]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cli_refuses_an_unavailable_device_before_any_work(capsys, tmp_path):
    assert main(["lab", "--device", "cuda:7", "--out", str(tmp_path / "x")]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main(["lab", "--device", "tpu", "--out", str(tmp_path / "x")]) == 2
    assert "device must be one of" in capsys.readouterr().err


def test_cli_version():
    out = subprocess.run(
        [sys.executable, "-m", "elbolab.presentation.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("elbolab ")


@pytest.fixture(scope="module")
def quick_lab(tmp_path_factory):
    """`elbolab lab --quick`, run once for the tests of its outputs: (folder, process, env)."""
    tmp_path = tmp_path_factory.mktemp("quick")
    env = dict(os.environ)
    if HAVE_MNIST:  # a data folder relative to the caller's cwd must still be found
        env["ELBOLAB_DATA_DIR"] = os.path.relpath(SHARED, tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "elbolab.presentation.cli", "lab", "--quick", "--no-progress",
         "--out", "lab"],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=tmp_path,
        env=env,
    )
    return tmp_path, proc, env


@pytest.mark.slow
def test_elbolab_lab_quick_end_to_end(quick_lab):
    tmp_path, proc, env = quick_lab
    out = tmp_path / "lab"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validations passed" in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    vals = metrics["validations"]
    assert vals and all(v["passed"] for v in vals)
    ids = [c.id for c in CHAPTERS]
    assert all(set(v) >= {"name", "part", "value", "tolerance", "passed", "kind", "against",
                          "unit", "comparator"} for v in vals)
    # each says what it is compared against, and how: no verdict left to the caller alone
    assert all(v["against"] and v["comparator"] in COMPARATORS and v["comparator"] != "custom"
               for v in vals)
    assert {v["kind"] for v in vals} == set(KINDS)  # every kind of evidence is there
    parts = {v["part"] for v in vals}
    assert parts <= set(PARTS) and {"kl", "elbo", "training", "diffusion"} <= parts
    # every record names its chapter, its section and the lab's checklist items it serves
    assert all(v["chapter"] in ids and v["section"] and v["serves"] for v in vals)
    assert [c["id"] for c in metrics["chapters"]] == ids
    assert all(c["error"] is None and not c["reused"] for c in metrics["chapters"])
    # every handout item is shown by a validation (or says why none can), and every
    # validation an item names exists in this run: a renamed check fails here
    shown = re.search(r"checklist: (\d+)/(\d+) handout items shown by a validation, (\d+) not "
                      r"measurable", proc.stdout)
    assert shown and int(shown[1]) + int(shown[3]) == int(shown[2]), proc.stdout
    assert "MISSING" not in proc.stdout
    rows = coverage(vals)
    assert all(r["covered"] or r["item"].no_check for r in rows)
    if HAVE_MNIST:
        assert [(r["item"].key, r["unmatched"]) for r in rows if r["unmatched"]] == []
    if HAVE_MNIST:  # this check exists only when the run trained on MNIST, not the fallback
        assert any(v["name"].startswith("conv VAE beats the MLP") for v in vals)
    assert metrics["run"]["quick"] is True
    nb = nbformat.read(out / "lab3_elbo.ipynb", as_version=4)  # the chapters, merged
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code)
    figure_outputs = [o for c in code for o in c.outputs
                      if "figure" in o.get("metadata", {}).get("elbolab", {})]
    assert figure_outputs and all("data:image/png;base64," in o["data"]["text/html"]
                                  for o in figure_outputs)  # the notebook is self-contained
    assert {p.name for p in (out / "figures").glob("*.png")} >= {
        "kl_monte_carlo_convergence.png",
        "reparameterization.png",
        "iwae_vs_k.png",
        "diffusion_testbed.png",
        "diffusion_ddpm_2d.png",
        "training_mlp_vs_conv.png",
    }
    assert '<base href="book/">' in (out / "report.html").read_text()
    pages = {spec.id: (out / "book" / f"{spec.slug}.html").read_text() for spec in CHAPTERS}
    html = "\n".join(pages.values())
    front = (out / "book" / "index.html").read_text()
    assert "Evidence Lower Bound" in front and f"{len(vals)} of {len(vals)} checks" in front
    assert "elbolab-checklist" in pages["A5"]
    assert "<td><strong>MISSING</strong></td>" not in pages["A5"]
    # an offline book: no script from anywhere, every saved figure linked exactly once
    assert "<script src" not in html and "cdnjs" not in html
    srcs = re.findall(r'<img[^>]*src="\.\./figures/([\w-]+\.png)"', html)
    n_figures = len(list((out / "figures").glob("*.png")))
    assert len(srcs) == len(set(srcs)) == n_figures
    # every figure numbered in order within its chapter, under a one-line caption
    for c in ids:
        mine = [int(n) for n in re.findall(rf"<figcaption><b>Figure {c}\.(\d+)\.</b> \S",
                                           pages[c])]
        assert mine == list(range(1, len(mine) + 1)), (c, mine)
    # no library noise, no repr, no path of this machine in the book or on the console
    for noise in ("Warning", "Validation(name=", str(tmp_path), "NoiseSchedule(", "array("):
        assert noise not in html, noise
    assert "without encryption" not in proc.stdout + proc.stderr
    # unchanged chapters are reused, not rerun: the same command again runs nothing
    again = subprocess.run(
        [sys.executable, "-m", "elbolab.presentation.cli", "lab", "--quick", "--no-progress",
         "--out", "lab"], capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    rerun = json.loads((out / "metrics.json").read_text())
    assert all(c["reused"] for c in rerun["chapters"])
    assert [v["value"] for v in rerun["validations"]] == [v["value"] for v in vals]
    assert len(re.findall(r'src="\.\./figures/', "\n".join(
        p.read_text() for p in (out / "book").glob("*.html")))) == n_figures


@pytest.mark.slow
def test_the_quick_book_in_a_real_browser(quick_lab):
    """Headless Chromium, network off, at 400 and 1280 px: no failed request, no console
    error, nothing outside the page's width, every figure referenced from the text, every
    citation in the bibliography, no ns0: and no raw $; the first screen of each page goes
    to the output folder (skipped with a clear message where no Chromium is installed)."""
    from elbolab.presentation.browser import book_problems, find_chromium, inspect_book

    if find_chromium() is None:
        pytest.skip("no Chromium installed (apt-get install chromium): the book's real-browser "
                    "checks need one")
    tmp_path, proc, _ = quick_lab
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    book = tmp_path / "lab" / "book"
    reports = inspect_book(book, screenshots=tmp_path / "lab" / "screenshots")
    assert book_problems(reports) == []
    assert len(reports) == 2 * len(list(book.glob("*.html")))
    figures = sum(len(r.figures) for r in reports if r.width == 1280)
    assert figures == len(list((tmp_path / "lab" / "figures").glob("*.png")))
    assert sum(len(r.cites) for r in reports) > 20  # the chapters cite their sources
    assert all(r.math_font for r in reports if r.n_math)  # the shipped math font loaded
    assert {p.stem for p in (tmp_path / "lab" / "screenshots").glob("*.png")} == {
        p.stem for p in book.glob("*.html")}


@pytest.mark.slow
def test_elbolab_lab_quick_passes_on_the_digits_fallback(tmp_path):
    """No data folder and no network: the lab runs on the 8x8 digits, says so at the top, and
    every validation holds on them."""
    env = {**os.environ, "ELBOLAB_DATA_DIR": str(tmp_path / "no-data"), "ELBOLAB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "elbolab.presentation.cli", "lab", "--quick", "--out", "lab"],
        capture_output=True, text=True, timeout=1800, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # with progress on, the long cells' own bars reach the console through the lab's bar
    # (the DDPM's steps, the trainers' epochs), and none of them is left in the report
    assert "lab · 4 · " in proc.stderr and re.search(r"ddpm \d+/8000 \[", proc.stderr)
    assert re.search(r"train \d+/\d+ \[", proc.stderr)
    vals = json.loads((tmp_path / "lab" / "metrics.json").read_text())["validations"]
    assert vals and all(v["passed"] for v in vals)
    assert not any(v["name"].startswith("conv VAE beats the MLP") for v in vals)  # MNIST-only
    html = "\n".join(p.read_text() for p in (tmp_path / "lab" / "book").glob("*.html"))
    assert "data: digits" in html and "8x8 digits" in html
    # the figures' base64 bytes may spell "it/s" by chance: look at the text only
    text = re.sub(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", "", html)
    assert "epoch/s" not in text and "it/s" not in text and "%|" not in text
