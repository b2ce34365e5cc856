"""The result store: `load_or_run(name, preset)` returns the stored result of an experiment for that exact config
and experiment version, or computes it (with a progress bar, resumable) and stores it with its provenance.

A result is one compressed `.npz` file: named arrays (curves, tables) plus a JSON header holding the config, a
summary of scalars, provenance and a checksum of the arrays. Writes are atomic (temporary file + rename); a file
that cannot be read or fails its checksum is reported as corrupt and never half-read.

Compute policy (`LANDSCAPE_COMPUTE`): "auto" (default) computes what is missing; "never" (set by `make test`
and on CI) turns a missing result into a clear error instead of an hour of silent training.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from . import __version__

META_KEY = "__meta__"


class MissingResultError(RuntimeError):
    """A stored result was required (compute policy "never") but none exists for this config and version."""


class CorruptResultError(RuntimeError):
    """A result file exists but cannot be read or fails its checksum."""


def results_root() -> Path:
    """`LANDSCAPE_RESULTS`, else the repository's `results/` folder (editable install), else ./results."""
    if os.environ.get("LANDSCAPE_RESULTS"):
        return Path(os.environ["LANDSCAPE_RESULTS"])
    repo = Path(__file__).resolve().parents[2]
    if (repo / "results").is_dir():
        return repo / "results"
    return Path.cwd() / "results"


def compute_policy() -> str:
    policy = os.environ.get("LANDSCAPE_COMPUTE", "never" if os.environ.get("CI") else "auto")
    if policy not in ("auto", "never"):
        raise ValueError(f"LANDSCAPE_COMPUTE={policy!r} is not allowed: it must be 'auto' or 'never'")
    return policy


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """None/"auto" → CUDA when available, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' is not allowed here: no CUDA device is available (use 'cpu' or 'auto')")
    return device


_threads_in_run: int | None = None  # what `cpu_threads` set during the current run, for the provenance


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


def config_dict(config) -> dict:
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)


def config_key(name: str, version: int, config) -> str:
    blob = json.dumps({"experiment": name, "version": version, "config": config_dict(config)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


@dataclasses.dataclass
class Result:
    """What an experiment produced: arrays, a summary of scalars, and where it came from."""

    experiment: str
    key: str
    config: dict
    arrays: dict[str, np.ndarray]
    summary: dict
    provenance: dict

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]


def save_result(path: Path, result: Result) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(v) for k, v in result.arrays.items()}
    meta = {"experiment": result.experiment, "key": result.key, "config": result.config, "summary": result.summary,
            "provenance": result.provenance, "checksum": _checksum(arrays)}
    payload = dict(arrays)
    payload[META_KEY] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_result(path: Path) -> Result:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        meta = json.loads(arrays.pop(META_KEY).tobytes().decode())
    except Exception as exc:  # truncated zip, bad JSON, missing header …
        raise CorruptResultError(f"{path}: cannot be read as a result file ({type(exc).__name__}: {exc})") from exc
    if _checksum(arrays) != meta.get("checksum"):
        raise CorruptResultError(f"{path}: checksum mismatch — the file was changed or damaged after it was written")
    return Result(meta["experiment"], meta["key"], meta["config"], arrays, meta["summary"], meta["provenance"])


def git_commit() -> str:
    repo = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        commit = out.stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "src"], capture_output=True,
                               text=True, timeout=5).stdout.strip()
        return (commit + ("+dirty" if dirty else "")) if commit else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(experiment, preset: str | None, device: torch.device, wall_time_s: float) -> dict:
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")
    return {
        "experiment_version": experiment.version,
        "preset": preset,
        "package_version": __version__,
        "git_commit": git_commit(),
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python_version": sys.version.split()[0],
        "device": str(device),
        "device_name": device_name,
        "cpu_threads": _threads_in_run or torch.get_num_threads(),
        "wall_time_s": round(wall_time_s, 2),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


class Checkpoint:
    """Partial state of a long run, so an interrupted run resumes where it stopped (tensors, numbers, dicts)."""

    def __init__(self, path: Path | None, every_s: float = 20.0):
        self.path = Path(path) if path else None
        self.every_s = every_s
        self._last = time.monotonic()

    def load(self):
        if self.path is None or not self.path.exists():
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, self.path)
        self._last = time.monotonic()

    def clear(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def sub(self, name: str) -> "Checkpoint":
        """A second checkpoint file next to this one (e.g. the partial state of one group of a multi-run sweep)."""
        if self.path is None:
            return Checkpoint(None, self.every_s)
        return Checkpoint(self.path.with_name(f"{self.path.stem}.{name}.pt"), self.every_s)


class Store:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else results_root()

    def path(self, name: str, key: str, preset: str | None) -> Path:
        return self.root / name / f"{preset or 'custom'}-{key}.npz"

    def checkpoint(self, name: str, key: str) -> Checkpoint:
        return Checkpoint(self.root / ".partial" / f"{name}-{key}.pt")

    def stored(self, name: str) -> list[Path]:
        return sorted((self.root / name).glob("*.npz"))


def resolve(name: str, preset: str | None = "full", config=None):
    """(experiment, config, preset label) for a registered experiment name and a preset or explicit config."""
    from .experiments import get_experiment

    experiment = get_experiment(name)
    if config is None:
        config = experiment.preset(preset)
    elif preset is not None and config != experiment.presets.get(preset):
        preset = None
    return experiment, config, preset


def load(name: str, preset: str | None = "full", config=None, store: Store | None = None) -> Result:
    """The stored result, or MissingResultError naming the command that makes it."""
    experiment, config, preset = resolve(name, preset, config)
    store = store or Store()
    key = config_key(experiment.name, experiment.version, config)
    path = store.path(experiment.name, key, preset)
    if not path.exists():
        raise MissingResultError(
            f"no stored result for experiment {name!r} (preset {preset or 'custom'}, version {experiment.version}, "
            f"key {key}) in {path.parent}. Make it with: python -m landscape run {name} --preset {preset or '…'}")
    return load_result(path)


def load_or_run(name: str, preset: str | None = "full", config=None, *, device=None, force: bool = False,
                store: Store | None = None, progress: bool = True) -> Result:
    """Return the stored result for this experiment/config/version, else compute it, store it and return it."""
    experiment, config, preset = resolve(name, preset, config)
    store = store or Store()
    key = config_key(experiment.name, experiment.version, config)
    path = store.path(experiment.name, key, preset)
    if not force and path.exists():
        try:
            return load_result(path)
        except CorruptResultError:
            if compute_policy() == "never":
                raise
            path.unlink()  # recomputed below
    if compute_policy() == "never":
        load(name, preset, config, store)  # raises MissingResultError with the command to run
    global _threads_in_run
    _threads_in_run = None
    device = resolve_device(device)
    checkpoint = store.checkpoint(experiment.name, key)
    start = time.perf_counter()
    arrays, summary = experiment.run(config, device=device, progress=progress, checkpoint=checkpoint)
    result = Result(experiment.name, key, config_dict(config), arrays, summary,
                    provenance(experiment, preset, device, time.perf_counter() - start))
    save_result(path, result)
    checkpoint.clear()
    return load_result(path)


def provenance_line(result: Result) -> str:
    """One line saying where a stored result came from (for the chapters)."""
    p = result.provenance
    return (f"{result.experiment}: {p['preset']} preset, experiment v{p['experiment_version']}, {p['device']} "
            f"({p['device_name']}), torch {p['torch_version']}, {p['wall_time_s']:.0f} s, "
            f"commit {p['git_commit'][:10]}")
