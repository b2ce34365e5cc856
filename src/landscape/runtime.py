"""Where and how a computation runs: the device (`resolve_device`), the CPU threads (`cpu_threads`), whether a missing
result may be computed (`compute_policy`) and resumable partial state (`Checkpoint`). The trainers and experiments
import this module; it knows nothing of result files or of the experiment registry.

Compute policy (`LANDSCAPE_COMPUTE`): "auto" (default) computes what is missing; "never" (set by `make test`
and on CI) turns a missing result into a clear error instead of an hour of silent training.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import time
from pathlib import Path

import torch

from .validation import ConfigError, NotWritableError, UserError, require_choice


class InsufficientMemoryError(UserError, MemoryError):
    """A run needs more memory than the machine (or GPU) it would run on has: refused before anything is written,
    or reported in two lines when an allocation fails."""

    hint = "run it smaller (fewer or smaller --set values: widths, steps, seeds …), or where a unit fits " \
           "(--scheduler / --jobqueue)"


def compute_policy() -> str:
    policy = os.environ.get("LANDSCAPE_COMPUTE", "never" if os.environ.get("CI") else "auto")
    require_choice("LANDSCAPE_COMPUTE", policy, ("auto", "never"))
    return policy


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """None/"auto" → CUDA when available, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device={device!r} is not allowed: device must be 'auto', 'cpu' or 'cuda[:N]'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' is not allowed here: no CUDA device is available",
                          hint="use --device cpu (or auto, which picks CUDA when there is one)")
    require_choice("device", device.type, ("cpu", "cuda"))
    return device


_threads_in_run: int | None = None  # what `cpu_threads` set during the current run, for the provenance


def start_run() -> None:
    """Forget the thread count of an earlier run (called by the runner before it computes a result)."""
    global _threads_in_run
    _threads_in_run = None


def threads_in_run() -> int:
    """The intra-op CPU threads the current run used: what `cpu_threads` set, else torch's setting."""
    return _threads_in_run or torch.get_num_threads()


@contextlib.contextmanager
def cpu_threads(n: int, device: torch.device):
    """Run with n intra-op CPU threads (tiny networks are faster on one thread: less scheduling than work)."""
    if torch.device(device).type != "cpu":
        yield
        return
    global _threads_in_run
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    _threads_in_run = n
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Checkpoint:
    """Partial state of a long run, so an interrupted run resumes where it stopped (tensors, numbers, dicts)."""

    def __init__(self, path: Path | None, every_s: float = 20.0):
        self.path = Path(path) if path else None
        self.every_s = every_s
        self._last = time.monotonic()

    def load(self):
        if self.path is None or self.path.is_symlink() or not self.path.is_file():
            return None
        try:
            return torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception:  # a damaged checkpoint is only lost time: start over
            return None

    def due(self) -> bool:
        return self.path is not None and time.monotonic() - self._last >= self.every_s

    def save(self, state) -> None:
        if self.path is None:
            return
        buffer = io.BytesIO()
        torch.save(state, buffer)
        tmp = None
        try:  # a fresh temporary file (never one that is already there, a link included), then a rename
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(buffer.getvalue())
            os.replace(tmp, self.path)
        except OSError as exc:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            raise NotWritableError(f"cannot write the checkpoint {self.path} ({exc.strerror or exc}); nothing "
                                   f"half-written is left") from None
        self._last = time.monotonic()

    def clear(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def sub(self, name: str) -> "Checkpoint":
        """A second checkpoint file next to this one (e.g. the partial state of one group of a multi-run sweep)."""
        if self.path is None:
            return Checkpoint(None, self.every_s)
        return Checkpoint(self.path.with_name(f"{self.path.stem}.{name}.pt"), self.every_s)


def memory_total(device: torch.device) -> int | None:
    """The memory a run on `device` could use at most: the GPU's, or this machine's physical memory (None if
    unknown)."""
    device = torch.device(device)
    try:
        if device.type == "cuda":
            return int(torch.cuda.get_device_properties(device).total_memory)
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError, RuntimeError):
        return None


def format_bytes(n: float) -> str:
    """1.6e12 → "1.6 TB" (decimal units, as torch and numpy errors are read by people)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.3g} EB"


_ALLOCATION = re.compile(r"(can't allocate memory|not enough memory|out of memory|Unable to allocate|"
                         r"Cannot allocate memory)", re.IGNORECASE)
_ASKED = re.compile(r"allocate (\d+) bytes|allocate ([\d.]+ ?[KMGTPE]i?B)", re.IGNORECASE)


def allocation_failure(exc: BaseException) -> str | None:
    """For an exception raised because memory could not be allocated (MemoryError, torch's CPU allocator, CUDA out
    of memory): what was asked for ("800 GB", or the library's own words); None for any other exception."""
    text = str(exc)
    if not (isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and _ALLOCATION.search(text))):
        return None
    asked = _ASKED.search(text)
    if asked is None:
        return "more than is free"
    return format_bytes(int(asked.group(1))) if asked.group(1) else asked.group(2).replace(". ", " ")
