"""The results layer: result files, their integrity (checksum, key check), provenance and where they live (`Store`).
It knows nothing of experiments, trainers or devices beyond naming them: `landscape.runner.load_or_run` finds an
experiment's stored result here, or computes it and saves it here.

A result is one compressed `.npz` file: named arrays (curves, tables) plus a JSON header holding the config, a
summary of scalars, provenance and a checksum over the whole file (arrays and header). The header's config must hash
to the file's key. Writes are atomic (temporary file + rename); a file that cannot be read, fails its checksum or
whose config does not match its key is reported as corrupt and never half-read.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__
from .display import compute_seconds
from .validation import NotWritableError, UserError

META_KEY = "__meta__"
FORMAT = 2  # 2: the checksum covers the header as well as the arrays


class MissingResultError(UserError, RuntimeError):
    """A stored result was required (compute policy "never") but none exists for this config and version."""


class CorruptResultError(UserError, RuntimeError):
    """A result file exists but cannot be read, fails its checksum, or its config does not match its key."""



class ResultsNotWritableError(NotWritableError):
    """The results folder cannot be written (found before any compute starts), or a write failed (a full disk)."""

    hint = "point LANDSCAPE_RESULTS at a writable folder"


class UnsafePathError(UserError, OSError):
    """A path the store would read, write or delete is a symbolic link, or not the regular file or folder the store
    writes there: the store follows no link below the results folder and deletes nothing it did not write."""


class ResultsFolderError(UserError, OSError):
    """The results folder named by LANDSCAPE_RESULTS does not exist or is not a folder (`list`, `claims`, `verify`)."""

    hint = "point LANDSCAPE_RESULTS at the results folder (or unset it for the repository's results/)"


def results_root() -> Path:
    """`LANDSCAPE_RESULTS`, else the repository's `results/` folder (editable install), else ./results."""
    if os.environ.get("LANDSCAPE_RESULTS"):
        return Path(os.environ["LANDSCAPE_RESULTS"])
    repo = Path(__file__).resolve().parents[2]
    if (repo / "results").is_dir():
        return repo / "results"
    return Path.cwd() / "results"


def config_dict(config) -> dict:
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)


def config_key(name: str, version: int, config) -> str:
    """12 hex digits of the SHA-256 of (experiment, version, config). Configs normalize their fields
    (`validation.normalize_fields`), so the key does not depend on how a number was written."""
    blob = json.dumps({"experiment": name, "version": version, "config": config_dict(config)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _checksum(arrays: dict[str, np.ndarray], header: dict) -> str:
    """SHA-256 over every array (name, dtype, shape, bytes) and the canonical JSON of the header (all but the
    checksum itself): editing any number in the file breaks it."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    h.update(json.dumps({k: v for k, v in header.items() if k != "checksum"}, sort_keys=True).encode())
    return h.hexdigest()


@dataclasses.dataclass
class Result:
    """What an experiment produced: arrays, a summary of scalars, and where it came from. `config` is the stored
    dict; `typed_config` is the experiment's config dataclass, attached by `landscape.runner` (`load`, `load_or_run`,
    `read`) and None for a file read here alone, since this layer does not know the experiments; `axes` names the
    axes of each array (e.g. ("width", "record", "member")), attached the same way; `chapter` the book chapter that
    shows it, attached the same way; `source` the file it was read from (None for a result not read from a file)."""

    experiment: str
    key: str
    config: dict
    arrays: dict[str, np.ndarray]
    summary: dict
    provenance: dict
    typed_config: Any = dataclasses.field(default=None, repr=False, compare=False)
    axes: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)  # array -> axis names (runner)
    chapter: str | None = dataclasses.field(default=None, repr=False, compare=False)
    source: Path | None = dataclasses.field(default=None, repr=False, compare=False)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def __contains__(self, name: str) -> bool:
        return name in self.arrays


def save_result(path: Path, result: Result) -> None:
    """Write `result` to `path` atomically (a temporary file beside it, then a rename): a failed write (a full disk)
    leaves nothing half-written and raises ResultsNotWritableError naming the file."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise UnsafePathError(f"{path} is {describe_path(path)}, not a result file: it is not replaced",
                              hint=f"move it out of the way (e.g. mv {path} {path}.bak) and rerun")
    arrays = {k: np.asarray(v) for k, v in result.arrays.items()}
    # the header as it will read back (tuples become lists), so that the checksum is that of the stored JSON
    meta = json.loads(json.dumps({"format": FORMAT, "experiment": result.experiment, "key": result.key,
                                  "config": result.config, "summary": result.summary,
                                  "provenance": result.provenance}))
    meta["checksum"] = _checksum(arrays, meta)
    payload = dict(arrays)
    payload[META_KEY] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsNotWritableError(f"cannot write {path} ({exc.strerror or exc})", NotWritableError.hint) from None
    write_atomic(path, lambda f: np.savez_compressed(f, **payload))


def write_atomic(path: Path, write) -> None:
    """`write(file)` into a temporary file beside `path`, flushed to disk, then renamed onto it: a failed write (a
    full disk) leaves nothing half-written and raises ResultsNotWritableError naming the file."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ResultsNotWritableError(f"cannot write {path} ({exc.strerror or exc})", NotWritableError.hint) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ResultsNotWritableError(f"cannot write {path} ({exc.strerror or exc}); nothing half-written "
                                          f"is left", NotWritableError.hint) from None
        raise


def describe_path(path: Path) -> str:
    """What is at `path`, for a message: "a symbolic link to …", "a folder", "a file", "missing"."""
    path = Path(path)
    if path.is_symlink():
        return f"a symbolic link to {os.readlink(path)}"
    if path.is_dir():
        return "a folder"
    if path.is_file():
        return "a file"
    return "missing" if not path.exists() else "not a regular file"


RESULT_NAME = re.compile(r"^([A-Za-z0-9_]+)(\+set)?-[0-9a-f]{12}$")  # <preset>[+set]-<key>.npz


def _recompute_hint(path: Path) -> str:
    """How to make a damaged result again, when its name says which one it is; else where result files are."""
    match = RESULT_NAME.match(path.stem) if path.suffix == ".npz" else None
    if match is None or path.parent.name.startswith("."):
        return "this is not a result file of the book's store (results/<experiment>/<preset>-<key>.npz); " \
               "python -m landscape list shows the stored results"
    preset, with_set = match.group(1), match.group(2)
    return (f"recompute it: python -m landscape run {path.parent.name} --preset {preset} "
            f"{'--set … (as before) ' if with_set else ''}--force")


def load_result(path: Path) -> Result:
    """Read a result file whole, or raise CorruptResultError naming it: unreadable, an older format, a checksum that
    does not match (an edited header or array), or a config that does not hash to the file's key."""
    path = Path(path)
    hint = _recompute_hint(path)
    if path.exists() and not path.is_file():
        raise CorruptResultError(f"{path}: is {describe_path(path)}, not a result file", hint)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        meta = json.loads(arrays.pop(META_KEY).tobytes().decode())
        experiment, key, config = meta["experiment"], meta["key"], meta["config"]
        version = meta["provenance"]["experiment_version"]
    except Exception as exc:  # truncated zip, bad JSON, missing header …
        raise CorruptResultError(f"{path}: cannot be read as a result file ({type(exc).__name__})", hint) from exc
    if meta.get("format") != FORMAT:
        raise CorruptResultError(f"{path}: result format {meta.get('format', 1)} is not readable (need {FORMAT})", hint)
    if _checksum(arrays, meta) != meta.get("checksum"):
        raise CorruptResultError(f"{path}: checksum mismatch: changed or damaged after it was written", hint)
    if config_key(experiment, version, config) != key or not path.stem.endswith(key):
        raise CorruptResultError(f"{path}: its config does not hash to its key {key}", hint)
    return Result(experiment, key, config, arrays, meta["summary"], meta["provenance"], source=path)


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


def provenance(experiment, preset: str | None, device: torch.device, wall_time_s: float,
               cpu_threads: int | None = None, commit: str | None = None) -> dict:
    """Where a result came from; `cpu_threads` is what the run set (`runtime.threads_in_run()`), else torch's;
    `commit` the code's commit when the run started (else now's)."""
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")
    return {
        "experiment_version": experiment.version,
        "preset": preset,
        "package_version": __version__,
        "git_commit": commit or git_commit(),
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python_version": sys.version.split()[0],
        "device": str(device),
        "device_name": device_name,
        "cpu_threads": cpu_threads or torch.get_num_threads(),
        "wall_time_s": round(wall_time_s, 2),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


class Store:
    """Where results live: `<root>/<experiment>/<preset>-<key>.npz`, and the partial state of unfinished runs in
    `<root>/.partial/`. Nothing below the root is followed if it is a symbolic link (`guard`): the store reads,
    writes and deletes only inside the results folder."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else results_root()

    def path(self, name: str, key: str, preset: str | None) -> Path:
        return self.root / name / f"{preset or 'custom'}-{key}.npz"

    def checkpoint_path(self, name: str, key: str) -> Path:
        """Where the partial state of an unfinished run lives (`runtime.Checkpoint`)."""
        return self.root / ".partial" / f"{name}-{key}.pt"

    def units_dir(self, name: str, key: str) -> Path:
        """Where the finished units of an unfinished run live (`landscape.unit_files.UnitFiles`)."""
        return self.root / ".partial" / f"{name}-{key}.units"

    def guard(self, path: Path, kind: str = "file") -> Path:
        """`path` (below the root), or UnsafePathError if it or a folder between it and the root is a symbolic
        link, or if it exists and is not a `kind` ("file": a regular file, "folder")."""
        return guard(self.root, path, kind)

    def stored(self, name: str) -> list[Path]:
        folder = self.root / name
        if folder.is_symlink() or not folder.is_dir():
            self.guard(folder, "folder")  # a link is an error; a missing folder holds nothing
            return []
        return sorted(p for p in folder.glob("*.npz") if not p.is_symlink() and p.is_file())

    def check_readable(self) -> None:
        """Fail if the results folder is missing or not a folder (`list`, `claims`, `verify` read it)."""
        if not self.root.is_dir():
            what = "does not exist" if not self.root.exists() else f"is {describe_path(self.root)}, not a folder"
            raise ResultsFolderError(f"results folder {self.root} {what}")

    def check_writable(self, name: str) -> None:
        """Fail now, before any compute, if a result for `name` could not be written."""
        folder = self.guard(self.root / name, "folder")
        self.guard(self.root / ".partial", "folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
                pass
        except OSError as exc:
            raise ResultsNotWritableError(f"results folder {folder} is not writable ({exc.strerror})") from None


def guard(root: Path, path: Path, kind: str = "file") -> Path:
    """`path` if nothing from below `root` down to it is a symbolic link and, where it exists, it is a `kind`
    ("file": a regular file; "folder"); else UnsafePathError naming it. `root` itself may be a link (it is where
    LANDSCAPE_RESULTS points)."""
    root, path = Path(root), Path(path)
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise UnsafePathError(f"{path} is outside the results folder {root}") from None
    current = root
    for i, part in enumerate(parts):
        current = current / part
        last = i == len(parts) - 1
        if current.is_symlink():
            raise UnsafePathError(f"{current} is {describe_path(current)}: the store follows no link below the "
                                  f"results folder", hint=f"remove the link (rm {current}) and rerun")
        if not current.exists():
            break
        want = kind if last else "folder"
        if (want == "folder" and not current.is_dir()) or (want == "file" and not current.is_file()):
            raise UnsafePathError(f"{current} is {describe_path(current)}, where the store keeps "
                                  f"{'a folder' if want == 'folder' else 'a regular file'}",
                                  hint=f"move it out of the way (e.g. mv {current} {current}.bak) and rerun")
    return path


def provenance_line(*results: Result) -> str:
    """One line per stored result saying where it came from (for the chapters); several results give several
    lines, in the order given."""
    if not results:
        raise TypeError("provenance_line() needs at least one result")
    lines = []
    for result in results:
        p = result.provenance
        lines.append(f"{result.experiment}: {p['preset']} preset, experiment v{p['experiment_version']}, "
                     f"{p['device']} ({p['device_name']}), torch {p['torch_version']}, {compute_seconds(result):.0f} s of compute, "
                     f"commit {p['git_commit'][:10]}"
                     + (" with uncommitted changes" if p["git_commit"].endswith("+dirty") else ""))
    return "\n".join(lines)
