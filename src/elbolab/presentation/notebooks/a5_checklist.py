# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Appendix A5 — The handout's checklist
#
# After this appendix you will be able to see which validations of this run show each item of
# the handout: every item of its Submission Requirements, Evaluation Criteria, Success Metrics
# and Common Mathematical Pitfalls, verbatim, with the validations of this run that cover
# it, then the items the lab adds, then every validation of every chapter.

# %% tags=["parameters"]
QUICK = True  # small sample sizes (CI); False for the full run
DEVICE = "auto"  # "auto", "cpu", "cuda", "mps"
SEED = 0
OUT_DIR = "."  # where figures/ and metrics.json go
DATA_DIR = None  # data folder (None: $ELBOLAB_DATA_DIR or the user cache)
PROGRESS = True  # progress bars on long cells (`elbolab lab` relays them to its console)

# %%
from IPython.display import HTML

from elbolab.presentation.chapters import CHAPTERS, Chapter
from elbolab.presentation.checklist import appendix_html
from elbolab.presentation.validation import format_html

# %%
ch = Chapter("A5", out_dir=OUT_DIR, quick=QUICK, device=DEVICE, seed=SEED,
             data_dir=DATA_DIR, progress=PROGRESS)
validations = ch.lab_validations()  # every other chapter's, merged by `elbolab lab`

# %% [markdown]
# <a id="checklist"></a>
#
# ## The handout's items, and the checks that cover them
#
# Generated from the records of this run (each record names the items it serves): an item
# that no validation serves reads **MISSING**, and the table says so plainly.

# %%
HTML(appendix_html(validations))

# %% [markdown]
# <a id="verified"></a>
#
# ## Every validation of this run

# %%
HTML(format_html(validations, [(c.id, c.title, f"{c.slug}.html") for c in CHAPTERS]))

# %%
ch.finish()
