"""The sandbox a training job runs in: Debian's bubblewrap (``bwrap``), when the plan asks for it.

A training job sees a new root holding only what it needs, each part bound at its own path:

- read-only: the system's programs and libraries (/usr and its /bin, /lib... links), the Python
  runtime and its site-packages, the engine's built-in algorithms (``hpo_jobs/local_engine``, not
  the rest of the portal), each file or folder its command names, and its channels' data;
- read-write: its own job folder (the ``/opt/ml``-like root) only;
- a fresh /tmp, /dev and /proc of its own; new PID, IPC, UTS, cgroup and network namespaces (no
  network at all, and no view of other processes, such as ``/proc/<ppid>/environ``).

It does not see the database, the portal's settings or files, other jobs' folders, the engine's
state or its own log file (its stdout and stderr are descriptors opened outside). ``--die-with-parent``
ends it with its supervisor. It runs as the portal's OS user with no capabilities: the sandbox is a
strong fence for honest mistakes and a real obstacle for a hostile script, but it is not a
virtual machine, and a kernel exploit would cross it.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

# The system folders a program needs, bound read-only (or recreated as the links they are).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The few files of /etc that programs read to start (dynamic linker cache, time zone, BLAS choices).
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives", "/etc/passwd", "/etc/group",
                "/etc/nsswitch.conf")


def bwrap_path() -> str | None:
    """The bwrap executable, or None when bubblewrap is not installed."""
    return shutil.which("bwrap")


def _covered(path: Path, folders: list[Path]) -> bool:
    """Whether absolute ``path`` is one of ``folders`` or lies under one, compared as text (a
    Path's ``parents`` builds a Path per level: three times slower, paid on every training job)."""
    text = str(path)
    for folder in folders:
        prefix = str(folder)
        if text == prefix or text.startswith(prefix if prefix.endswith("/") else prefix + "/"):
            return True
    return False


def bwrap_argv(
    command: list[str], *, env: dict[str, str], root: Path, engine_code: Path, data: list[Path], bwrap: str = "bwrap"
) -> list[str]:
    """``command`` wrapped in bwrap with environment ``env``: ``root`` writable, ``data`` and the runtime
    read-only, nothing else. bwrap's own processes get no job variables (only the job carries
    SAGEMAKER_BASE_DIR, which is how the engine finds a job's processes)."""
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--cap-drop", "ALL", "--clearenv"]
    for name, value in env.items():
        argv += ["--setenv", name, value]
    for folder in SYSTEM_DIRS:
        if os.path.islink(folder):
            argv += ["--symlink", os.readlink(folder), folder]
    mounts: list[tuple[str, Path]] = [("--tmpfs", Path("/tmp")), ("--dev", Path("/dev")), ("--proc", Path("/proc"))]
    readable: list[Path] = []

    def read_only(path: Path) -> None:
        if path.exists() and not _covered(path, readable):
            mounts.append(("--ro-bind", path))
            readable.append(path)

    for name in SYSTEM_DIRS:
        if not os.path.islink(name):
            read_only(Path(name))
    for name in SYSTEM_FILES:
        read_only(Path(name))
    runtime = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    runtime |= {Path(p) for p in sys.path if "site-packages" in p}
    for path in sorted(runtime, key=lambda p: len(p.parts)):
        read_only(path)
    read_only(engine_code.parent / "__init__.py")  # the hpo_jobs package, but none of its other modules
    read_only(engine_code)
    for part in command:
        # The files (or folders) the command names, as named and as they really are; not the
        # folders around them, which may hold anything.
        if os.path.isabs(part) and os.path.exists(part):
            read_only(Path(part))
            read_only(Path(part).resolve())
    for folder in data:
        read_only(folder)
    mounts.append(("--bind", root))
    # A parent is mounted before what lies inside it, or it would hide it.
    for kind, path in sorted(mounts, key=lambda m: len(m[1].parts)):
        argv += [kind, str(path)] if kind in ("--tmpfs", "--dev", "--proc") else [kind, str(path), str(path)]
    # The new root itself (the folders bwrap made to mount on) is read-only too: nothing written
    # outside the job folder and /tmp, not even to a scratch copy that would vanish.
    return argv + ["--remount-ro", "/", "--chdir", str(root), "--", *command]


def wrapper(root: Path, bwrap: str = "bwrap") -> Callable[[list[str], dict[str, str]], list[str]]:
    """What puts the training job at ``root`` in its sandbox: ``wrap(argv, env)``, the bwrap argv
    that shows it its channels' data and the engine's built-in algorithms (see ``container.launch``)."""
    data = channel_sources(root)
    engine_code = Path(__file__).resolve().parent

    def wrap(argv: list[str], env: dict[str, str]) -> list[str]:
        return bwrap_argv(argv, env=env, root=root, engine_code=engine_code, data=data, bwrap=bwrap)

    return wrap


def channel_sources(root: Path) -> list[Path]:
    """The folders holding the real files a job's ``input/data`` links lead to: what its sandbox shows read-only."""
    parents = set()
    for dirpath, _, filenames in os.walk(root / "input" / "data"):
        for filename in filenames:
            link = Path(dirpath) / filename
            if link.is_symlink():
                parents.add(Path(os.readlink(link)).parent)
    folders: list[Path] = []
    for folder in sorted(parents, key=lambda p: len(p.parts)):
        if not _covered(folder, folders):
            folders.append(folder)
    return folders
