"""Where ``hpo login`` keeps the portal's address, the token and a default project: a JSON file
under ``$XDG_CONFIG_HOME/hpo/`` (``~/.config/hpo/``) that only its owner can read."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Config:
    url: str = ""
    token: str = ""
    project: str = ""


def config_path() -> Path:
    """The config file's path."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hpo" / "config.json"


def load() -> Config:
    """The saved config, or an empty one."""
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return Config()
    if not isinstance(data, dict):
        return Config()
    return Config(**{k: str(data.get(k) or "") for k in ("url", "token", "project")})


def save(config: Config) -> Path:
    """Write the config with 0600 permissions (its folder 0700): the token is a password."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(config), out, indent=2)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return path
