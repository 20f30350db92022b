"""The parsed-file cache: documents that validated cleanly, remembered by hash.

`.runyard/state/cache/config-valid.json` maps the SHA-256 of (cache version, the kind's
schema, the file's bytes) to the file's parsed data, so loading a known file again needs
neither PyYAML nor jsonschema. Only the loaders' checks count (not the references to
other files, which `validate_document` adds for the editor): a cached result cannot go
stale when another file changes. `_CACHE_VERSION` is bumped whenever the checks change,
so results of an older version are not trusted. At most `_CACHE_MAX` entries are kept
(the newest). Reading or writing it never fails a command: problems just mean no caching.
The state folder is made for it only where `.runyard/.gitignore` ignores it (a project
`runyard init` made), so a project that never ran keeps it too.
hashlib is imported when a key is first computed, not with the package.
"""

from __future__ import annotations

import json
import os
from typing import Any

from runyard.core.config.schema import read_schema_bytes
from runyard.core.config.settings import Kind
from runyard.core.project import Project

CACHE_FILE = "config-valid.json"
# Bump when the checks (`checks`) change, so results cached by an older version are not
# trusted.
_CACHE_VERSION = b"runyard-config-valid-3\0"
_CACHE_MAX = 1000


class ValidCache:
    """Documents that validated cleanly, by hash, with their parsed data, in the
    project's state folder: a known document needs neither jsonschema nor yaml.

    Reading or writing it never fails a command: problems just mean no caching."""

    def __init__(self, project: Project) -> None:
        self.state_dir = project.state_dir
        self.path = project.state_dir / "cache" / CACHE_FILE
        self._keys: dict[str, Any] | None = None
        self._dirty = False

    def _load(self) -> dict[str, Any]:
        if self._keys is None:
            self._keys = {}
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = None
            if isinstance(data, dict):
                self._keys = {str(k): v for k, v in data.items() if isinstance(v, dict)}
        return self._keys

    @staticmethod
    def key(kind: Kind, document: bytes) -> str:
        import hashlib  # here, not at the top: it is most of this package's import time

        digest = hashlib.sha256(_CACHE_VERSION)
        digest.update(read_schema_bytes(kind))
        digest.update(document)
        return digest.hexdigest()

    def __contains__(self, key: str) -> bool:
        return key in self._load()

    def get(self, key: str) -> dict[str, Any] | None:
        data = self._load().get(key)
        return data if isinstance(data, dict) else None

    def add(self, key: str, data: dict[str, Any]) -> None:
        keys = self._load()
        if key not in keys:
            keys[key] = data
            self._dirty = True

    def _state_ignored(self) -> bool:
        """Whether `.runyard/.gitignore` (as `runyard init` writes it) ignores the state
        folder: then the cache may create it before the project's first run (say, for
        the language server's start), without anything new showing in `git status`."""
        try:
            lines = (self.state_dir.parent / ".gitignore").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return False
        return any(
            line.strip() in ("state/", "state", "/state/", "/state") for line in lines.splitlines()
        )

    def save(self) -> None:
        if not self._dirty or self._keys is None:
            return
        self._dirty = False
        keys = self._keys
        if len(keys) > _CACHE_MAX:
            keys = dict(list(keys.items())[-_CACHE_MAX:])
        try:
            if not self.state_dir.is_dir() and not self._state_ignored():
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{CACHE_FILE}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(keys), encoding="utf-8")
            os.replace(tmp, self.path)
        except (OSError, TypeError, ValueError):  # ValueError/TypeError: not JSON data
            pass
