"""One training job as a child process under SageMaker's container contract.

Each training job gets a directory laid out like ``/opt/ml``::

    input/config/hyperparameters.json   every value a string, plus _tuning_objective_metric
    input/config/inputdataconfig.json   the channels
    input/config/resourceconfig.json    one host, algo-1
    input/data/<channel>/               symlinks to the files of the allowed local channel folder
                                        (a Gzip channel's *.gz files are decompressed there instead)
    model/                              the algorithm saves its model here
    output/failure                      the algorithm explains a failure here
    output/data/

The command runs with that directory as its working directory, the argument ``train`` (SageMaker
runs ``docker run <image> train``), and ``SAGEMAKER_BASE_DIR`` set to it: the variable SageMaker's
training toolkit reads instead of ``/opt/ml``. The toolkit's ``SM_*`` variables (SM_MODEL_DIR,
SM_CHANNEL_<NAME>, SM_HPS, ...) are set too. The environment is built from scratch: a training job
never sees the server's variables (secret key, database URL, AWS credentials).

stdout and stderr go to one log file, never through the supervisor (a supervisor that restarts
leaves its jobs running). With a log limit they go through a pipe to ``head -c``, a relay in a
session of its own that copies at most one byte past the limit into the file and exits, so a job
writing faster than the supervisor polls meets a closed pipe at the limit instead of filling the
disk (where coreutils' ``stdbuf`` and ``head`` are missing, and without a limit, the output goes
straight to the file). Each job is the leader of its own process group, so stopping it stops
everything it started; the relay is not in the group, so it still writes what the job wrote before
it ends. The process starts under the plan's limits (set by ``prlimit``, see ``limits``) and, when
the plan says so, inside bubblewrap (``sandbox.bwrap_argv``), whose own process is then the group's
leader.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import zlib
from pathlib import Path
from typing import Any, Callable

from . import limits as resource_limits

HOST = "algo-1"
FAILURE_REASON_MAX = 1024  # SageMaker keeps the first 1024 characters of output/failure

# Variables a request's Environment may not set: they would let a member load code or read files
# of their choice into a training job (LD_PRELOAD, PYTHONPATH, BASH_ENV...), or override the
# variables the engine sets for the contract.
DENIED_ENVIRONMENT_PREFIXES = (
    "LD_", "DYLD_", "PYTHON", "GCONV", "SM_", "SAGEMAKER_", "BASH_", "PERL", "RUBY", "NODE_",
    "JAVA", "_JAVA", "MALLOC_", "GLIBC_", "OMP_", "OPENBLAS_", "MKL_",
)
DENIED_ENVIRONMENT_NAMES = frozenset({
    "PATH", "HOME", "IFS", "ENV", "SHELLOPTS", "PS4", "CLASSPATH", "BROWSER", "HOSTALIASES",
    "LOCPATH", "NLSPATH", "RESOLV_HOST_CONF", "TMPDIR", "TRAINING_JOB_NAME", "TRAINING_JOB_ARN",
    "LANG", "LC_ALL",
})
_ENV_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def check_environment(environment: dict[str, Any]) -> None:
    """Refuse (ValueError) request Environment variables that could take over a training job."""
    for name, value in environment.items():
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name) or len(name) > 512:
            raise ValueError(f"Environment variable name {name!r} is not valid")
        if not isinstance(value, str) or len(value) > 512:
            raise ValueError(f"Environment variable {name} must be text of at most 512 characters")
        upper = name.upper()
        if upper in DENIED_ENVIRONMENT_NAMES or upper.startswith(DENIED_ENVIRONMENT_PREFIXES):
            raise ValueError(
                f"Environment variable {name} cannot be set on the local engine: it controls how "
                "programs are loaded or is set by the engine itself"
            )


def is_within(path: Path, folders: list[Path]) -> bool:
    """Whether ``path`` (already resolved) is one of ``folders`` or lies under one."""
    return any(path == folder or folder in path.parents for folder in folders)


def _stage_file(source: Path, destination: Path, gzipped: bool) -> None:
    """Put one channel file in place: a symlink, or for a Gzip channel's ``*.gz`` file its
    decompressed copy (named without ``.gz``), as SageMaker hands the algorithm decompressed data."""
    if gzipped and source.name.endswith(".gz"):
        try:
            with gzip.open(source, "rb") as compressed, \
                    open(destination.with_name(destination.name[:-3]), "xb") as out:
                shutil.copyfileobj(compressed, out, 1024 * 1024)
        except (EOFError, gzip.BadGzipFile, zlib.error):
            raise ValueError(f"channel file {source.name} is not a complete gzip file") from None
        return
    os.symlink(source, destination)


def _link_channel(source: Path, target: Path, allowed: list[Path], gzipped: bool = False) -> int:
    """Symlink the files of a channel folder (or a single file) into ``target``; returns how many.

    Every file is resolved again here and must still lie under an allowed folder: a symlink inside
    a data folder cannot lead a training job to the server's files.
    """
    target.mkdir(parents=True)
    real = source.resolve(strict=True)
    if not is_within(real, allowed):
        raise ValueError(f"Channel folder {source} is outside the allowed data folders")
    if real.is_file():
        _stage_file(real, target / real.name, gzipped)
        return 1
    count = 0
    for dirpath, dirnames, filenames in os.walk(real):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            if filename.startswith("."):
                continue
            path = Path(dirpath) / filename
            resolved = path.resolve()
            if not resolved.is_file() or not is_within(resolved, allowed):
                continue
            destination = target / path.relative_to(real)
            destination.parent.mkdir(parents=True, exist_ok=True)
            _stage_file(resolved, destination, gzipped)
            count += 1
    return count


def prepare(
    root: Path, hyperparameters: dict[str, str], channels: list[dict[str, Any]], allowed: list[Path]
) -> None:
    """Lay out a fresh /opt/ml-like directory at ``root`` (an old one, from an interrupted run, is removed)."""
    if root.exists():
        shutil.rmtree(root)
    config = root / "input" / "config"
    config.mkdir(parents=True)
    for sub in ("model", "output/data", "tmp"):
        (root / sub).mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters, indent=1), encoding="utf-8")
    input_config = {
        channel["name"]: {
            "ContentType": channel.get("content_type") or "text/csv",
            "TrainingInputMode": channel.get("input_mode") or "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        }
        for channel in channels
    }
    (config / "inputdataconfig.json").write_text(json.dumps(input_config, indent=1), encoding="utf-8")
    resource = {"current_host": HOST, "hosts": [HOST], "network_interface_name": "lo"}
    (config / "resourceconfig.json").write_text(json.dumps(resource), encoding="utf-8")
    for channel in channels:
        if "/" in channel["name"] or channel["name"] in (".", ".."):
            raise ValueError(f"Channel name {channel['name']!r} is not a folder name")
        _link_channel(Path(channel["path"]), root / "input" / "data" / channel["name"], allowed,
                      gzipped=channel.get("compression") == "Gzip")


def child_env(
    root: Path,
    *,
    training_job_name: str,
    training_job_arn: str,
    channels: list[str],
    hyperparameters: dict[str, str],
    threads: int,
    pythonpath: str,
    extra: dict[str, str],
) -> dict[str, str]:
    """The whole environment of a training job: the request's variables, then the contract's."""
    env = dict(extra)
    threads_text = str(max(1, threads))
    env.update(
        {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(root),
            "TMPDIR": str(root / "tmp"),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",  # metrics must reach the log as they are printed
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": pythonpath,  # the built-ins run as ``python -m hpo_jobs.local_engine...``
            # Parallel jobs share the cores: each gets its slice, not every core.
            "OMP_NUM_THREADS": threads_text,
            # OpenMP threads that wait sleep instead of spinning: on cores shared with the portal and
            # other jobs, spinning threads take the time of the one they wait for (XGBoost with 2
            # threads took 35 s instead of 6 s for 150 rounds on this 2-core machine under load).
            "OMP_WAIT_POLICY": "PASSIVE",
            "OPENBLAS_NUM_THREADS": threads_text,
            "MKL_NUM_THREADS": threads_text,
            "SAGEMAKER_BASE_DIR": str(root),
            "TRAINING_JOB_NAME": training_job_name,
            "TRAINING_JOB_ARN": training_job_arn,
            "SM_MODEL_DIR": str(root / "model"),
            "SM_INPUT_DIR": str(root / "input"),
            "SM_INPUT_CONFIG_DIR": str(root / "input" / "config"),
            "SM_OUTPUT_DIR": str(root / "output"),
            "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
            "SM_CHANNELS": json.dumps(sorted(channels)),
            "SM_HPS": json.dumps(hyperparameters),
            "SM_CURRENT_HOST": HOST,
            "SM_HOSTS": json.dumps([HOST]),
            "SM_NUM_CPUS": threads_text,
            "SM_NUM_GPUS": "0",
        }
    )
    for channel in channels:
        env["SM_CHANNEL_" + re.sub(r"[^A-Z0-9_]", "_", channel.upper())] = str(root / "input" / "data" / channel)
    return env


# ``head -c N`` copies N bytes and exits; ``stdbuf -o0`` makes it write each read at once (head's
# stdio would hold a file's output until exit, and the supervisor reads metrics from the file as they
# come). Both are coreutils; where they are missing, the output goes straight to the file and the
# supervisor's poll is the only check of the log's size.
_RELAY = ((shutil.which("stdbuf"), "-o0", shutil.which("head"), "-c")
          if shutil.which("stdbuf") and shutil.which("head") else None)


def launch(
    command: list[str], root: Path, log_path: Path, env: dict[str, str], limits: dict[str, Any] | None = None,
    wrap: Callable[[list[str], dict[str, str]], list[str]] | None = None,
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes] | None]:
    """Start the training job's command (see ``command_line``) in its own process group, its output
    appended to ``log_path``: the job's process, and the relay that caps the log (None without a
    log limit). The caller waits for the relay after the job's group has gone, then the log is whole."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    argv, env, preexec = command_line(command, env, limits or {}, wrap)
    log_mb = (limits or {}).get("log_mb")
    with open(log_path, "ab") as log:
        relay = None
        output: Any = log
        if log_mb and _RELAY:
            # One byte past the limit, so the supervisor sees the log over it and names the limit.
            room = max(1, log_mb * resource_limits.MB + 1 - log.tell())
            relay = subprocess.Popen(
                [*_RELAY, str(room)],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.DEVNULL,
                start_new_session=True, close_fds=True, env={"LC_ALL": "C"},
            )
            output = relay.stdin
        try:
            process = subprocess.Popen(
                argv,
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                preexec_fn=preexec,
            )
        except BaseException:
            if relay is not None:
                relay.stdin.close()
                relay.wait()
            raise
        finally:
            if relay is not None and not relay.stdin.closed:
                relay.stdin.close()  # the job holds the pipe's only write end now
    return process, relay


def command_line(
    command: list[str], env: dict[str, str], limits: dict[str, Any],
    wrap: Callable[[list[str], dict[str, str]], list[str]] | None = None,
) -> tuple[list[str], dict[str, str], Callable[[], None] | None]:
    """The argv, environment and ``preexec_fn`` a training job's process starts with: its command
    with ``train`` appended; ``wrap(argv, env)`` puts it in the sandbox, which then gets ``env``;
    the limits come first, as a prlimit prefix (the same process, started with vfork) or, without
    prlimit, as the ``preexec_fn`` that sets them between fork and exec."""
    argv = [*command, "train"]
    if ("/" not in argv[0] or os.path.isabs(argv[0])) and shutil.which(argv[0], path=env.get("PATH", os.defpath)) is None:
        # Said here, as Popen says it, rather than as the exit code of prlimit's or bwrap's exec.
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", argv[0])
    if wrap is not None:
        argv, env = wrap(argv, env), {"PATH": env.get("PATH", os.defpath), "LANG": "C.UTF-8"}
    prefix = resource_limits.prlimit_argv(limits)
    if prefix is None:
        return argv, env, lambda: resource_limits.apply(limits)
    return [*prefix, *argv], env, None


def signal_group(pgid: int, sig: int, spare_leader: bool = False) -> None:
    """Send ``sig`` to a training job's process group, if it still exists; ``spare_leader`` sends it
    to the members only (bwrap would die of a SIGTERM its sandboxed job should handle itself)."""
    if not spare_leader:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        return
    for pid in group_members(pgid):
        if pid != pgid:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def group_members(pgid: int) -> list[int]:
    """Pids of the live processes in process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and fields[2] == str(pgid):
            members.append(int(entry.name))
    return members


def failure_reason(root: Path) -> str | None:
    """The first 1024 characters of output/failure, as SageMaker reports them; None when empty."""
    try:
        with open(root / "output" / "failure", encoding="utf-8", errors="replace") as handle:
            text = handle.read(FAILURE_REASON_MAX * 4)
    except (FileNotFoundError, IsADirectoryError):
        return None
    text = text.strip()
    return text[:FAILURE_REASON_MAX] or None


def processes_where(file: str, matches: Callable[[list[bytes]], bool]) -> list[int]:
    """Pids of live processes whose /proc/<pid>/<file> (``environ`` or ``cmdline``), split on NUL, matches."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    pids = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            items = (entry / file).read_bytes().split(b"\0")
        except OSError:
            continue
        if matches(items):
            pids.append(int(entry.name))
    return pids


def kill_leftovers(root: Path) -> int:
    """SIGKILL every process still running for the training job at ``root``; how many were found.

    Used when a supervisor restarts: the processes of a job whose supervisor died are found by the
    SAGEMAKER_BASE_DIR in their environment, so a reused process id can never hit a stranger.
    """
    marker = f"SAGEMAKER_BASE_DIR={root}".encode()
    killed = 0
    for pid in processes_where("environ", lambda items: marker in items):
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except (ProcessLookupError, PermissionError):
            pass
    return killed
