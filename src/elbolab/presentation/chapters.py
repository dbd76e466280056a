"""The lab as a book of chapters: which notebooks there are, what each needs, and the helper
each chapter's notebook starts with.

- :data:`CHAPTERS` — the book's table of contents: one jupytext notebook per chapter under
  ``notebooks/``, in reading order, each naming the chapters whose outputs it reads
  (``needs``: a chapter that uses a trained model loads it from the run folder an earlier
  chapter wrote, never from another kernel's state);
- :class:`Chapter` — what a chapter's setup cell makes: its validation log, its figures
  numbered "Figure 4.2" and saved under ``figures/``, the data, the run folders of earlier
  chapters (:meth:`Chapter.load_run`), and :meth:`Chapter.finish`, which writes the chapter's
  validations for :func:`~elbolab.presentation.lab.run_lab` to merge.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from html import escape
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..io import atomic_write_json
from .checklist import SECTION_KEYS
from .validation import ValidationLog

if TYPE_CHECKING:
    import torch

    from ..elbo import ELBOFramework
    from ..vae.config import TrainConfig
    from ..vae.data import ImageData
    from ..vae.training import RunData


@dataclass(frozen=True)
class ChapterSpec:
    """One chapter: its id (``"4"``, ``"A2"``), the notebook's file stem, its title, and the
    ids of the chapters whose outputs it reads."""

    id: str
    slug: str
    title: str
    needs: tuple[str, ...] = ()

    @property
    def source(self) -> Path:
        """The chapter's jupytext source, shipped inside the package."""
        return Path(str(resources.files("elbolab.presentation") / "notebooks"
                        / f"{self.slug}.py"))

    def output(self, out_dir: str | Path, suffix: str) -> Path:
        """Where a lab in ``out_dir`` keeps this chapter's executed notebook (``.ipynb``) or its
        validations (``.json``)."""
        return Path(out_dir) / CHAPTER_DIR / f"{self.slug}{suffix}"


_MAIN = ("1", "2", "3", "4", "5", "6", "7", "A1", "A2", "A3", "A4")
CHAPTERS: tuple[ChapterSpec, ...] = (
    ChapterSpec("1", "01_intractable", "Why p(x) is intractable"),
    ChapterSpec("2", "02_kl", "KL divergence"),
    ChapterSpec("3", "03_jensen_elbo", "Jensen's inequality and the ELBO"),
    ChapterSpec("4", "04_vae", "The reparameterization trick and a VAE on MNIST"),
    ChapterSpec("5", "05_tightness", "How tight is the bound? IWAE, AIS and flows", ("4",)),
    ChapterSpec("6", "06_two_forces", "The two forces: reconstruction against regularization"),
    ChapterSpec("7", "07_diffusion", "The bridge to diffusion"),
    ChapterSpec("A1", "a1_gradients", "Appendix A1 — Gradient estimators in depth", ("4",)),
    ChapterSpec("A2", "a2_stability", "Appendix A2 — Numerical stability", ("4",)),
    ChapterSpec("A3", "a3_pitfalls", "Appendix A3 — Pitfalls, edge cases and error conditions"),
    ChapterSpec("A4", "a4_connections", "Appendix A4 — Connections", ("4",)),
    ChapterSpec("A5", "a5_checklist", "Appendix A5 — The handout's checklist", _MAIN),
)
CHAPTER_IDS = tuple(c.id for c in CHAPTERS)
#: Where a chapter's executed notebook and validations go, inside the lab's output folder
CHAPTER_DIR = "chapters"
#: The file beside a run that holds a chapter's per-image test scores of it
SCORES = "test_scores.pt"


def chapter(chapter_id: str) -> ChapterSpec:
    """The chapter with this id (``"4"``, ``"a2"`` or ``"A2"``); ``ValueError`` names the ids."""
    key = str(chapter_id).strip().upper()
    for c in CHAPTERS:
        if c.id == key:
            return c
    raise ValueError(f"chapter must be one of {', '.join(CHAPTER_IDS)}, got {chapter_id!r}")


def with_needs(chapter_ids: tuple[str, ...] | None) -> tuple[ChapterSpec, ...]:
    """The chapters ``chapter_ids`` and every chapter they need, in book order (all of them
    for ``None``)."""
    if chapter_ids is None:
        return CHAPTERS
    wanted: set[str] = set()
    todo = [chapter(i).id for i in chapter_ids]
    while todo:
        c = chapter(todo.pop())
        if c.id not in wanted:
            wanted.add(c.id)
            todo.extend(c.needs)
    return tuple(c for c in CHAPTERS if c.id in wanted)


@dataclass
class LoadedRun:
    """A run folder written by an earlier chapter: the trained model (eval mode), the config it
    was trained with, its history (one dict per epoch) and its data, binarized as it was."""

    model: ELBOFramework
    config: TrainConfig
    history: list[dict]
    data: RunData
    latent: int
    #: what the chapter that trained it measured on the test images (:meth:`Chapter.save_scores`)
    scores: dict | None = None


class Chapter:
    """The context of one chapter's notebook: ``log`` (its validations), ``show`` (its
    numbered figures), ``gen`` (its seeded generator), ``device``, the data and the run folders
    of earlier chapters. Made by the chapter's setup cell from the injected parameters."""

    def __init__(self, chapter_id: str, *, out_dir: str | Path = ".", quick: bool = True,
                 device: str = "auto", seed: int = 0, data_dir: str | None = None,
                 progress: bool = True) -> None:
        import torch

        from ..vae.device import resolve_device

        self.spec = chapter(chapter_id)
        self.out_dir = Path(out_dir)
        self.fig_dir = self.out_dir / "figures"
        self.fig_dir.mkdir(parents=True, exist_ok=True)
        self.quick, self.seed, self.data_dir, self.progress = quick, seed, data_dir, progress
        self.device: torch.device = resolve_device(device)
        self.log = ValidationLog(items=SECTION_KEYS)
        self.gen = torch.Generator().manual_seed(seed)
        self.figures: list[str] = []
        #: how many test images, and how many importance samples, score a trained model
        #: wherever a chapter scores one (the same images in every chapter: paired)
        self.n_eval, self.k_eval = (200, 100) if quick else (1000, 1000)

    @property
    def id(self) -> str:
        return self.spec.id

    def show(self, fig: Any, name: str, caption: str) -> None:
        """Save ``fig`` as ``figures/<name>.png`` (twice its display resolution), display it
        once as "Figure <chapter>.<n>" under a one-line caption that states what it shows
        (also its alt text), and close it. The output's ``elbolab`` metadata (name, label,
        caption, display size) lets the book link the file instead of embedding it and lets
        the text refer to it as ``@fig:<name>``."""
        import base64

        from IPython.display import display

        from .figures.style import png_display_size, save_figure

        if name in self.figures:
            raise ValueError(f"figure name {name!r} is used twice in chapter {self.id}")
        self.figures.append(name)
        label = f"Figure {self.id}.{len(self.figures)}"
        png = save_figure(fig, self.fig_dir / f"{name}.png", close=True)
        width, height = png_display_size(png)
        page = figure_html(name, label, caption,
                           f"data:image/png;base64,{base64.b64encode(png).decode()}", width, height)
        display({"text/html": page, "text/plain": f"{label}. {caption}"}, raw=True,
                metadata={"elbolab": {"figure": name, "label": label, "caption": caption,
                                      "width": width, "height": height}})

    def source(self, *functions: Any) -> Any:
        """The library's own source of ``functions``, shown as code (what runs, not a copy)."""
        import inspect
        import textwrap

        from IPython.display import Markdown

        blocks = []
        for f in functions:
            name = f"{f.__module__}.{f.__qualname__}"
            code = textwrap.dedent(inspect.getsource(f)).rstrip()
            blocks.append(f"`{name}`, as the library runs it:\n\n```python\n{code}\n```")
        return Markdown("\n\n".join(blocks))

    def load_data(self) -> tuple[ImageData, ImageData]:
        """MNIST's training and test splits, or the 8×8 digits when MNIST is absent and cannot
        be downloaded; prints which, and why."""
        from ..vae.data import load_dataset

        with warnings.catch_warnings(record=True) as fell_back:
            warnings.simplefilter("always")
            train = load_dataset("mnist", "train", self.data_dir)
            test = load_dataset("mnist", "test", self.data_dir)
        print(f"data: {train.name}, {len(train):,} training and {len(test):,} test images"
              + (" — MNIST was not in the data folder and could not be downloaded, so this "
                 "chapter runs on scikit-learn's 8x8 digits; the MNIST-only comparisons are "
                 "skipped" if fell_back else ""))
        return train, test

    def run_folder(self, name: str) -> Path:
        """Where the run ``name`` of this lab lives (``runs/<name>``)."""
        return self.out_dir / "runs" / name

    def load_run(self, name: str, *, train: ImageData | None = None,
                 test: ImageData | None = None) -> LoadedRun:
        """The run ``runs/<name>`` that an earlier chapter trained, with its data prepared as
        it was (the same subsets and the same binarized test set); ``FileNotFoundError`` says
        which chapter writes it when it is absent."""
        import torch

        from ..vae.checkpoint import CHECKPOINT, load_run
        from ..vae.config import TrainConfig
        from ..vae.training import prepare_data

        folder = self.run_folder(name)
        if not (folder / CHECKPOINT).exists():
            writers = ", ".join(self.spec.needs) or "an earlier chapter"
            raise FileNotFoundError(f"{folder / CHECKPOINT} is missing: chapter {writers} "
                                    "trains it (elbolab lab --chapter "
                                    f"{self.id} runs it first)")
        model, state = load_run(folder, device=str(self.device))
        config = TrainConfig(**state["config"])
        data = prepare_data(config, self.device, train=train, test=test)
        scores = (torch.load(folder / SCORES, map_location="cpu", weights_only=True)
                  if (folder / SCORES).exists() else None)
        return LoadedRun(model, config, state["history"], data, state["spec"]["latent"], scores)

    def example_run(self) -> tuple[ImageData, ImageData, LoadedRun, torch.Tensor]:
        """What the chapters after 4 start from: the data, chapter 4's trained VAE
        (``runs/part4_example``, :meth:`load_run`) and the test images every chapter scores
        it on (its first :attr:`n_eval`, binarized as it was): (train, test, run, x_eval)."""
        train, test = self.load_data()
        run = self.load_run("part4_example", train=train, test=test)
        return train, test, run, run.data.test_x[:self.n_eval]

    def save_scores(self, name: str, **per_image: torch.Tensor) -> None:
        """Keep what this chapter measured per test image on the run ``runs/<name>`` (its test
        ELBO, its log p(x)) beside the run, written atomically, so that a later chapter uses
        these very numbers instead of measuring the model again with other draws."""
        from ..vae.checkpoint import save_checkpoint

        save_checkpoint(self.run_folder(name) / SCORES,
                        {k: v.detach().double().cpu() for k, v in per_image.items()})

    def lab_validations(self) -> list[dict]:
        """The validations of every chapter run before this one, as ``elbolab lab`` merged
        them into ``metrics.json``."""
        import json

        path = self.out_dir / "metrics.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: elbolab lab writes it before it runs "
                                    f"chapter {self.id}")
        return json.loads(path.read_text())["validations"]

    def finish(self) -> Any:
        """Write this chapter's validations to ``chapters/<slug>.json`` (atomically) and show
        a one-line summary of them."""
        from IPython.display import HTML

        atomic_write_json(self.spec.output(self.out_dir, ".json"),
                          {"chapter": self.id, "validations": self.log.to_dicts()})
        n, passed = len(self.log.records), sum(r.passed for r in self.log.records)
        return HTML(f'<p class="elbolab-chapter-summary"><strong>Chapter {self.id}: {passed} of '
                    f"{n} checks passed.</strong> The book's last appendix lists every check of "
                    "every chapter.</p>" if n else
                    f'<p class="elbolab-chapter-summary">Chapter {self.id} makes no checks of '
                    "its own.</p>")


def figure_html(name: str, label: str, caption: str, src: str, width: int,
                height: int) -> str:
    """A figure as the book shows it: the image at its display size (the PNG holds twice as
    many pixels), its caption as alt text, the numbered caption under it."""
    cap = escape(caption)
    return (f'<figure class="elbolab-figure" id="fig-{escape(name)}">'
            f'<a href="{escape(src)}"><img src="{escape(src)}" width="{width}" '
            f'height="{height}" alt="{label}. {cap}" loading="lazy"></a>'
            f"<figcaption><b>{label}.</b> {cap}</figcaption></figure>")


__all__ = ["CHAPTERS", "CHAPTER_DIR", "CHAPTER_IDS", "SCORES", "Chapter", "ChapterSpec",
           "LoadedRun", "chapter", "figure_html", "with_needs"]
