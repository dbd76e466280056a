"""Run the lab's chapters and collect what they verified.

The lab is a book of chapters (:data:`~elbolab.presentation.chapters.CHAPTERS`), one jupytext
percent-format notebook each, shipped in the package under ``notebooks/``. ``run_lab`` runs
them in order, each in a fresh kernel of *this* interpreter with its own timeout, after
injecting the parameters below the cell tagged ``parameters`` (as papermill does). A chapter
that needs a trained model loads it from the run folder an earlier chapter wrote, so a
chapter can run alone (``elbolab lab --chapter 5`` runs chapter 4 first, or reuses it), and a
chapter whose source, parameters, library and needed chapters are unchanged since its last
run is reused, not rerun (:func:`chapter_key`). A chapter that fails stops only the
chapters that need it. It writes into the output folder:

- ``chapters/<chapter>.ipynb`` and ``chapters/<chapter>.json``: each executed chapter (saved
  even if a cell fails) and its validations, key, seconds and error;
- ``lab3_elbo.ipynb``: the chapters' executed notebooks, merged in book order;
- ``book/``: the chapters as an offline book, one page each, and ``report.html``, its front
  page (:mod:`.report`);
- ``figures/*.png``: written by the chapters;
- ``metrics.json``: ``{"validations": [{"name", "part", "chapter", "kind", "against",
  "value", "unit", "comparator", "tolerance", "reference", "passed", "detail", "section",
  "serves"}, ...], "chapters": [{"id", "title", "seconds", "reused", "error", "validations",
  "passed"}, ...], "run": {...}}`` (:class:`~elbolab.presentation.validation.Validation`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm  # text bars everywhere (no Jupyter widget, no ipywidgets warning)

from .. import __version__
from ..io import LOCK_FILE, atomic_write_json, atomic_write_text, folder_lock
from ..settings import ConfigError, check_setting_count, check_setting_folder, option
from ..vae.data import default_data_dir
from ..vae.device import DEVICE_CHOICES, check_device_setting
from .chapters import CHAPTER_DIR, CHAPTER_IDS, ChapterSpec, chapter, with_needs
from .report import BOOK_DIR

if TYPE_CHECKING:
    import nbformat

#: The merged notebook's name (``lab3_elbo.ipynb``)
NOTEBOOK_NAME = "lab3_elbo"


def cell_sections(nb: nbformat.NotebookNode) -> dict[int, str]:
    """For each code cell's index, the title of the last ``#``/``##`` heading above it (math
    and markup stripped), to name where a running lab is."""
    sections, title = {}, "setup"
    for i, c in enumerate(nb.cells):
        if c.cell_type == "markdown":
            for line in c.source.splitlines():
                if line.startswith(("# ", "## ")):
                    title = re.sub(r"[$*`\\]|\{|\}", "", line.split(" ", 1)[1])
                    title = title.split(",")[0].strip()
        elif c.cell_type == "code":
            sections[i] = title
    return sections


@dataclass
class LabConfig:
    """The settings of ``elbolab lab`` (each field is one of its options)."""

    out: str = option("lab-output", "output folder")
    quick: bool = option(False, "small sample sizes and short runs (CI); the full run otherwise")
    device: str = option("auto", f"torch device: one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    seed: int = option(0, "random seed")
    data_dir: str | None = option(None, "data folder (default: $ELBOLAB_DATA_DIR or the user "
                                        "cache)", type=str)
    chapter: str | None = option(None, "run one chapter (one of "
                                       f"{', '.join(CHAPTER_IDS)}) and the chapters it needs; "
                                       "the report then holds those (default: every chapter)",
                                 type=str)
    rerun: bool = option(False, "run every chapter again, even one whose source and inputs "
                                "are unchanged since its last run in this folder")
    cell_timeout: int = option(1800, "seconds one notebook cell may run")
    chapter_timeout: int = option(5400, "seconds one chapter may run")

    def __post_init__(self) -> None:
        check_setting_folder("out", self.out)
        check_setting_folder("data_dir", self.data_dir)
        check_setting_count("seed", self.seed, minimum=0)
        check_setting_count("cell_timeout", self.cell_timeout)
        check_setting_count("chapter_timeout", self.chapter_timeout)
        check_device_setting("device", self.device)
        if self.chapter is not None:
            try:
                self.chapter = chapter(self.chapter).id
            except ValueError:
                raise ConfigError("chapter", f"must be one of {', '.join(CHAPTER_IDS)}, got "
                                             f"{self.chapter!r}") from None


@dataclass
class ChapterRun:
    """What one chapter's run gave: its id and title, seconds, whether it was reused (its
    source and inputs unchanged since the last run), its error (a failed cell, a timeout, or a
    chapter it needs that failed) and its validations."""

    id: str
    title: str
    seconds: float
    reused: bool
    error: str | None
    validations: list[dict] = field(default_factory=list)


@dataclass
class LabResult:
    """What a lab run produced: paths, validations, timing, each chapter's run, and the first
    error (``None`` when every chapter ran through)."""

    out_dir: Path
    notebook: Path
    report: Path
    metrics: Path
    validations: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    chapters: list[ChapterRun] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.validations) and all(
            v["passed"] for v in self.validations
        )


def inject_parameters(nb: nbformat.NotebookNode, params: dict) -> None:
    """Insert a code cell assigning ``params`` right after the cell tagged ``parameters``
    (or at the top if there is none), tagged ``injected-parameters``."""
    import nbformat

    source = "# Parameters injected by `elbolab lab`\n" + "".join(
        f"{k} = {v!r}\n" for k, v in params.items()
    )
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    index = next(
        (i + 1 for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get(
            "tags", [])),
        0,
    )
    nb.cells.insert(index, cell)


#: The mark the lab leaves in its output folder: a folder with it is the lab's to rewrite
LAB_MARK = ".elbolab-lab"


def claim_lab_folder(out: str | os.PathLike[str]) -> Path:
    """Make ``out`` the lab's output folder: a new or empty folder, one an earlier lab wrote
    (it holds :data:`LAB_MARK` or the lab's notebook), or one holding only what the lab
    writes; a folder with other files raises ``ValueError`` naming some of them (the lab
    would mix its outputs into someone else's folder), a file raises too."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file, not a folder: choose another --out")
    if out.is_dir():
        entries = set(os.listdir(out))
        ours = {f"{NOTEBOOK_NAME}.ipynb", "report.html", "metrics.json", "figures", "runs",
                CHAPTER_DIR, BOOK_DIR, LAB_MARK, LOCK_FILE}
        foreign = sorted(entries - ours)
        if foreign and not entries & {LAB_MARK, f"{NOTEBOOK_NAME}.ipynb"}:
            raise ValueError(f"{out} holds files elbolab lab did not write ("
                             f"{', '.join(foreign[:4])}{', …' if len(foreign) > 4 else ''}): "
                             "choose another --out, or empty it")
    out.mkdir(parents=True, exist_ok=True)
    (out / LAB_MARK).write_text("an output folder of `elbolab lab`: a lab run there replaces "
                                "its files\n")
    return out


def library_fingerprint() -> str:
    """A hash of the library's source that a chapter's results can depend on: every file of
    the package but the chapters' own notebooks (each chapter hashes its own source) and the
    modules that only run, render or present the lab (a change there reruns nothing)."""
    root = Path(str(resources.files("elbolab")))
    skip_dirs = {"notebooks", "templates", "__pycache__"}
    skip_files = {"lab.py", "report.py", "cli.py", "options.py", "kernel.py"}
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if skip_dirs & set(rel.parts[:-1]) or (rel.parts[0] == "presentation"
                                                and rel.name in skip_files):
            continue
        digest.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def chapter_key(spec: ChapterSpec, params: dict, library: str, needed: list[str]) -> str:
    """What a chapter's results depend on, as one hash: its source, the lab's parameters, the
    library and the keys of the chapters it needs. Equal keys: the earlier run is reused."""
    blob = json.dumps([spec.source.read_text(), params, library, needed], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def run_lab(config: LabConfig | None = None, *, progress: bool = True) -> LabResult:
    """Run the lab's chapters (all of them, or ``config.chapter`` and what it needs) and write
    the merged notebook, the report and ``metrics.json`` into ``config.out``, which must be the
    lab's (:func:`claim_lab_folder`); the folder is locked while the lab runs
    (:func:`~elbolab.io.folder_lock`: a second lab on it raises ``FolderBusy`` at once)."""
    config = config or LabConfig()
    out = claim_lab_folder(Path(config.out).resolve())
    with folder_lock(out):
        return _run_lab(out, config, progress)


def _run_lab(out: Path, config: LabConfig, progress: bool) -> LabResult:
    # the notebook machinery is imported here: the command line's other commands never pay it
    import jupytext
    import nbformat

    from .report import BookChapter, link_figure_refs, write_book

    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / CHAPTER_DIR).mkdir(exist_ok=True)
    result = LabResult(out, out / f"{NOTEBOOK_NAME}.ipynb", out / "report.html",
                       out / "metrics.json")
    if result.metrics.exists():
        result.metrics.unlink()  # never report a stale run's validations
    # the kernel runs in the output folder: hand it an absolute data folder, resolved here
    # (from --data-dir or $ELBOLAB_DATA_DIR, either of which may be relative to our cwd)
    data = str(default_data_dir(config.data_dir).absolute())
    params = {"QUICK": bool(config.quick), "DEVICE": config.device, "SEED": int(config.seed),
              "OUT_DIR": str(out), "DATA_DIR": data}
    specs = with_needs(None if config.chapter is None else (config.chapter,))
    library = library_fingerprint()
    keys: dict[str, str] = {}
    plans = []
    for spec in specs:
        keys[spec.id] = chapter_key(spec, params, library, [keys[n] for n in spec.needs])
        saved = _read_json(spec.output(out, ".json"))
        reuse = (not config.rerun and saved.get("key") == keys[spec.id]
                 and saved.get("error") is None and "seconds" in saved
                 and spec.output(out, ".ipynb").exists())
        plans.append((spec, reuse, saved))
    notebooks = {spec.id: jupytext.read(spec.source) for spec, reuse, _ in plans if not reuse}
    # each chapter's code cells, and the cell of parameters injected into it
    n_code = sum(c.cell_type == "code" for nb in notebooks.values() for c in nb.cells) + len(
        notebooks)
    bar = tqdm(total=n_code, desc="lab", unit="cell", disable=not progress, file=sys.stderr)
    start = time.perf_counter()
    merged = nbformat.v4.new_notebook()
    merged.metadata["kernelspec"] = KERNELSPEC
    book: list[BookChapter] = []
    try:
        for spec, reuse, saved in plans:
            failed = [r.id for r in result.chapters if r.id in spec.needs and r.error]
            if failed:
                run = ChapterRun(spec.id, spec.title, 0.0, False,
                                 f"not run: it needs chapter {', '.join(failed)}, which failed")
            elif reuse:
                run = ChapterRun(spec.id, spec.title, float(saved["seconds"]), True, None,
                                 saved.get("validations", []))
            else:
                run = _run_chapter(spec, notebooks[spec.id], out, {**params,
                                   "PROGRESS": bool(progress)}, config, bar)
            for v in run.validations:
                v["chapter"] = spec.id
            result.chapters.append(run)
            # metrics.json after every chapter: what ran so far, for a chapter that reads
            # the others' validations (the checklist) and for a lab stopped half way
            _write_metrics(result, config)
            executed = None
            if not failed:
                atomic_write_json(spec.output(out, ".json"), {
                    "chapter": spec.id, "title": spec.title, "key": keys[spec.id],
                    "seconds": round(run.seconds, 2), "error": run.error,
                    "validations": run.validations})
                if spec.output(out, ".ipynb").exists():
                    executed = nbformat.read(spec.output(out, ".ipynb"), as_version=4)
                    merged.cells.extend(copy.deepcopy(executed.cells))
            book.append(BookChapter(spec, executed, sum(bool(v["passed"])
                                                        for v in run.validations),
                                    len(run.validations), run.error, run.seconds, run.reused))
    finally:
        bar.close()
        result.seconds = time.perf_counter() - start
        errors = [f"chapter {r.id}: {r.error}" for r in result.chapters if r.error]
        result.error = "\n".join(errors) or None
        _write_metrics(result, config)
        link_figure_refs(merged)
        atomic_write_text(result.notebook, nbformat.writes(merged))
        write_book(out, book, run_header(config))
    return result


def run_header(config: LabConfig) -> dict:
    """What the book's header says about this run: date, commit, seed, mode and device."""
    import subprocess

    from ..vae.device import resolve_device

    here = Path(__file__).parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    return {"date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "commit": (commit + (" (with local changes)" if dirty else "")) if commit
            else f"elbolab {__version__} (not a git checkout)",
            "seed": int(config.seed), "mode": "quick" if config.quick else "full",
            "device": str(resolve_device(config.device))}


KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_metrics(result: LabResult, config: LabConfig) -> None:
    """``metrics.json``: every chapter's validations (each naming its chapter), the chapters'
    runs and the run's metadata."""
    result.validations = [v for r in result.chapters for v in r.validations]
    atomic_write_json(result.metrics, {
        "validations": result.validations,
        "chapters": [{"id": r.id, "title": r.title, "seconds": round(r.seconds, 2),
                      "reused": r.reused, "error": r.error, "validations": len(r.validations),
                      "passed": sum(bool(v["passed"]) for v in r.validations)}
                     for r in result.chapters],
        "run": {"quick": bool(config.quick), "device": config.device, "seed": int(config.seed),
                "chapter": config.chapter, "seconds": round(result.seconds, 2),
                "elbolab": __version__, "python": platform.python_version(),
                "notebook": result.notebook.name, "error": result.error},
    })


def _run_chapter(spec: ChapterSpec, nb: nbformat.NotebookNode, out: Path, params: dict,
                 config: LabConfig, bar: tqdm) -> ChapterRun:
    """Execute one chapter's notebook in a fresh kernel, in ``out``, each cell within
    ``config.cell_timeout`` and the whole chapter within ``config.chapter_timeout``; save the
    executed notebook (also when a cell fails) and return its validations."""
    import nbformat
    from jupyter_core.utils import run_sync
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    from .kernel import ProgressRelayClient, kernel_manager

    nb.metadata["kernelspec"] = KERNELSPEC
    inject_parameters(nb, params)
    metrics = spec.output(out, ".json")
    if metrics.exists():
        metrics.unlink()  # the chapter's own validations, written by its last cell
    sockets = tempfile.mkdtemp(prefix="elbolab-kernel-")
    km = kernel_manager(sockets)
    sections = cell_sections(nb)
    deadline = time.monotonic() + config.chapter_timeout

    def cell_started(cell_index: int, **_) -> None:
        if cell_index not in sections:  # nbclient announces markdown cells too
            return
        bar.set_description_str(f"lab · {spec.id} · {sections.get(cell_index, '')[:28]}",
                                refresh=False)
        bar.set_postfix_str("", refresh=True)

    def cell_done(**_) -> None:
        bar.set_postfix_str("", refresh=False)
        bar.update(1)

    client = ProgressRelayClient(
        nb, timeout=config.cell_timeout, km=km, resources={"metadata": {"path": str(out)}},
        on_cell_start=cell_started, on_cell_executed=cell_done,
        timeout_func=lambda cell: max(1, min(config.cell_timeout,
                                             int(deadline - time.monotonic()))))
    client.on_progress = lambda line: bar.set_postfix_str(line)
    start, error = time.perf_counter(), None
    try:
        client.execute()
    except CellTimeoutError as exc:
        error = (f"timed out ({config.chapter_timeout} s for the chapter, "
                 f"{config.cell_timeout} s a cell): {_short_error(str(exc), 600)}")
    except (CellExecutionError, DeadKernelError) as exc:
        error = _short_error(str(exc))
    finally:
        if km.has_kernel:  # we own the manager, so nbclient leaves the shutdown to us
            run_sync(km.shutdown_kernel)(now=True)
        shutil.rmtree(sockets, ignore_errors=True)
        atomic_write_text(spec.output(out, ".ipynb"), nbformat.writes(nb))
    seconds = time.perf_counter() - start
    validations = _read_json(metrics).get("validations")
    if validations is None and error is None:
        error = "the chapter finished without writing its validations (its last cell)"
    return ChapterRun(spec.id, spec.title, seconds, False, error, validations or [])


def _short_error(text: str, limit: int = 4000) -> str:
    """The tail of a cell error (the traceback's end names the failing line)."""
    return text if len(text) <= limit else "…" + text[-limit:]


__all__ = ["KERNELSPEC", "LAB_MARK", "NOTEBOOK_NAME", "ChapterRun", "LabConfig", "LabResult",
           "cell_sections", "chapter_key", "claim_lab_folder", "inject_parameters",
           "library_fingerprint", "run_header", "run_lab"]
