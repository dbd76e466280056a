"""Executing the lab notebook: the kernel that runs it and the client that relays its progress.

Imported by :func:`elbolab.presentation.lab.run_lab` when it runs, so that the command line's
other commands never pay for Jupyter's machinery.

- :func:`kernel_manager` — a kernel started with the interpreter running elbolab (its virtual
  environment, its torch), over local IPC sockets where the system has them;
- :class:`ProgressRelayClient` — an nbclient client that hands the running cell's tqdm bars
  to a callback instead of keeping them as outputs;
- :func:`progress_line` — the last state of a chunk of tqdm output, shortened.
"""

from __future__ import annotations

import os
import re
import sys

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

# a tqdm text bar's state: "desc:  40%|████      | 4/10 [00:20<00:30, 2.00epoch/s, …]"
_TQDM = re.compile(r"^\s*(?:(?P<desc>[^:|]*):\s*)?(?:\d+%\|[^|]*\|)?\s*"
                   r"(?P<count>\d+/\d+) \[(?P<times>[^\],]*)")


def progress_line(text: str) -> str | None:
    """The last state of the progress bars in a chunk of a cell's stderr, shortened to
    "desc n/total [elapsed<eta]", or None if the chunk holds anything but tqdm bars (it is
    then a real message and stays in the notebook)."""
    lines = [s for s in re.split(r"[\r\n]", text) if s.strip()]
    matches = [_TQDM.match(s) for s in lines]
    if not lines or not all(matches):
        return None
    m = matches[-1]
    return " ".join(p for p in (m["desc"], m["count"], f"[{m['times']}]") if p)


class ProgressRelayClient(NotebookClient):
    """A notebook client that relays the progress bars of the running cell to the lab's own
    bar (``on_progress``) instead of keeping them as outputs: the console shows where a long
    cell is and its ETA, the notebook and the report stay free of bar residue."""

    on_progress = None

    def output(self, outs, msg, display_id, cell_index):  # noqa: D102 (nbclient's hook)
        content = msg.get("content", {})
        if msg.get("msg_type") == "stream" and content.get("name") == "stderr":
            line = progress_line(content.get("text", ""))
            if line is not None:
                if self.on_progress is not None:
                    self.on_progress(line)
                return None
        return super().output(outs, msg, display_id, cell_index)


class _ThisInterpreterKernelSpecs(KernelSpecManager):
    """Always start the kernel with the interpreter running elbolab (its venv, its torch),
    whatever other ``python3`` kernelspecs the machine has registered."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="Python 3 (elbolab)",
            language="python",
        )


def kernel_manager(sockets: str) -> AsyncKernelManager:
    """A manager for a ``python3`` kernel run by this interpreter, talking over local
    sockets in the folder ``sockets`` (the caller removes it), not TCP: no port on the
    network, and no "running over TCP without encryption" warning from the kernel (IPC needs
    a POSIX system; TCP on loopback elsewhere)."""
    transport = {"transport": "ipc", "ip": os.path.join(sockets, "k")} if os.name == "posix" \
        else {}
    return AsyncKernelManager(kernel_name="python3",
                              kernel_spec_manager=_ThisInterpreterKernelSpecs(), **transport)
__all__ = ["ProgressRelayClient", "kernel_manager", "progress_line"]
