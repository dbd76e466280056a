"""Execute the lab notebook and collect what it verified.

``run_lab`` reads the jupytext percent-format source ``notebooks/lab3_elbo.py`` shipped with
the package, injects parameters after the cell tagged ``parameters`` (as papermill does),
executes it in a fresh kernel of *this* interpreter, and writes into ``out_dir``:

- ``lab3_elbo.ipynb``: the executed notebook, outputs kept (saved even if a cell fails);
- ``report.html``: the same, rendered as one self-contained page (:mod:`.report`);
- ``figures/*.png``: written by the notebook;
- ``metrics.json``: ``{"validations": [{"name", "part", "kind", "against", "value", "unit",
  "comparator", "tolerance", "reference", "passed", "detail", "section", "serves"}, ...], ...,
  "run": {...}}`` (:class:`~elbolab.presentation.validation.Validation`); the notebook writes
  the validations, this module adds the run's metadata.
"""

from __future__ import annotations

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
from ..checks import check_setting_count, check_setting_folder
from ..io import LOCK_FILE, atomic_write_json, atomic_write_text, folder_lock
from ..vae.config import option
from ..vae.data import default_data_dir
from ..vae.device import DEVICE_CHOICES, check_device_setting

if TYPE_CHECKING:
    import nbformat

NOTEBOOK_NAME = "lab3_elbo"

def cell_sections(nb: nbformat.NotebookNode) -> dict[int, str]:
    """For each code cell's index, the title of the last ``##`` heading above it (math and
    markup stripped), to name where a running lab is."""
    sections, title = {}, "setup"
    for i, c in enumerate(nb.cells):
        if c.cell_type == "markdown":
            for line in c.source.splitlines():
                if line.startswith("## "):
                    title = re.sub(r"[$*`\\]|\{|\}", "", line[3:]).split(",")[0].strip()
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
    cell_timeout: int = option(1800, "seconds one notebook cell may run")

    def __post_init__(self) -> None:
        check_setting_folder("out", self.out)
        check_setting_folder("data_dir", self.data_dir)
        check_setting_count("seed", self.seed, minimum=0)
        check_setting_count("cell_timeout", self.cell_timeout)
        check_device_setting("device", self.device)


def notebook_source() -> Path:
    """Path of the lab notebook's jupytext source shipped inside the package."""
    return Path(str(resources.files("elbolab.presentation") / "notebooks" / f"{NOTEBOOK_NAME}.py"))


@dataclass
class LabResult:
    """What a lab run produced: paths, validations, timing, and an error if a cell failed."""

    out_dir: Path
    notebook: Path
    report: Path
    metrics: Path
    validations: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

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
                LAB_MARK, LOCK_FILE}
        foreign = sorted(entries - ours)
        if foreign and not entries & {LAB_MARK, f"{NOTEBOOK_NAME}.ipynb"}:
            raise ValueError(f"{out} holds files elbolab lab did not write ("
                             f"{', '.join(foreign[:4])}{', …' if len(foreign) > 4 else ''}): "
                             "choose another --out, or empty it")
    out.mkdir(parents=True, exist_ok=True)
    (out / LAB_MARK).write_text("an output folder of `elbolab lab`: a lab run there replaces "
                                "its files\n")
    return out


def run_lab(
    out_dir: str | os.PathLike[str] = "lab-output",
    *,
    quick: bool = False,
    device: str = "auto",
    seed: int = 0,
    data_dir: str | None = None,
    cell_timeout: int = 1800,
    progress: bool = True,
) -> LabResult:
    """Execute the lab notebook with parameters and write its outputs into ``out_dir``, which
    must be the lab's (:func:`claim_lab_folder`); the folder is locked while the lab runs
    (:func:`~elbolab.io.folder_lock`: a second lab on it raises ``FolderBusy`` at once)."""
    out = claim_lab_folder(Path(out_dir).resolve())
    with folder_lock(out):
        return _run_lab(out, quick=quick, device=device, seed=seed, data_dir=data_dir,
                        cell_timeout=cell_timeout, progress=progress)


def _run_lab(out: Path, *, quick: bool, device: str, seed: int, data_dir: str | None,
             cell_timeout: int, progress: bool) -> LabResult:
    # the notebook machinery is imported here: the command line's other commands never pay it
    import jupytext
    import nbformat
    from jupyter_core.utils import run_sync
    from nbclient.exceptions import CellExecutionError

    from .kernel import ProgressRelayClient, kernel_manager
    from .report import write_report

    (out / "figures").mkdir(parents=True, exist_ok=True)
    result = LabResult(out, out / f"{NOTEBOOK_NAME}.ipynb", out / "report.html",
                       out / "metrics.json")
    if result.metrics.exists():
        result.metrics.unlink()  # never report a stale run's validations

    nb = jupytext.read(notebook_source())
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    # the kernel runs in the output folder: hand it an absolute data folder, resolved here
    # (from --data-dir or $ELBOLAB_DATA_DIR, either of which may be relative to our cwd)
    data = str(default_data_dir(data_dir).absolute())
    inject_parameters(nb, {"QUICK": bool(quick), "DEVICE": device, "SEED": int(seed),
                           "OUT_DIR": str(out), "DATA_DIR": data, "PROGRESS": bool(progress)})

    sockets = tempfile.mkdtemp(prefix="elbolab-kernel-")
    km = kernel_manager(sockets)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    bar = tqdm(total=n_code, desc="lab notebook", unit="cell", disable=not progress,
               file=sys.stderr)
    sections = cell_sections(nb)

    def cell_started(cell_index: int, **_) -> None:
        if cell_index not in sections:  # nbclient announces markdown cells too
            return
        bar.set_description_str(f"lab · {sections.get(cell_index, '')[:32]}", refresh=False)
        bar.set_postfix_str("", refresh=True)

    def cell_done(**_) -> None:
        bar.set_postfix_str("", refresh=False)
        bar.update(1)

    client = ProgressRelayClient(
        nb,
        timeout=cell_timeout,
        km=km,
        resources={"metadata": {"path": str(out)}},
        on_cell_start=cell_started,
        on_cell_executed=cell_done,
    )
    client.on_progress = lambda line: bar.set_postfix_str(line)
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as exc:
        result.error = _short_error(str(exc))
    finally:
        if km.has_kernel:  # we own the manager, so nbclient leaves the shutdown to us
            run_sync(km.shutdown_kernel)(now=True)
        shutil.rmtree(sockets, ignore_errors=True)
        bar.close()
        result.seconds = time.perf_counter() - start
        atomic_write_text(result.notebook, nbformat.writes(nb))
        write_report(nb, result.report)

    if result.metrics.exists():
        metrics = json.loads(result.metrics.read_text())
        result.validations = metrics.get("validations", [])
        metrics["run"] = {
            "quick": bool(quick), "device": device, "seed": int(seed),
            "seconds": round(result.seconds, 2), "elbolab": __version__,
            "python": platform.python_version(), "notebook": result.notebook.name,
            "error": result.error,
        }
        atomic_write_json(result.metrics, metrics)
    elif result.error is None:
        result.error = "the notebook finished without writing metrics.json"
    return result


def _short_error(text: str, limit: int = 4000) -> str:
    """The tail of a cell error (the traceback's end names the failing line)."""
    return text if len(text) <= limit else "…" + text[-limit:]


__all__ = ["LAB_MARK", "NOTEBOOK_NAME", "LabConfig", "LabResult", "cell_sections",
           "claim_lab_folder", "inject_parameters", "notebook_source", "run_lab"]
