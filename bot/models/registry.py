"""Model versions on disk: `<root>/<name>/<version>/{model.ubj, manifest.json}` and a CURRENT file.

Every change is atomic on a POSIX file system: a version directory is written under a staging
name and renamed into place whole, and CURRENT is replaced with os.replace, so a reader (the
daemon polling CURRENT, another process pruning) sees the old state or the new one, never half of
either. Versions are UTC training times, `YYYYMMDDTHHMMSSZ`, so sorting them by name sorts them
by age.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.durable import fsync_path, write_synced
from bot.models.manifest import (
    MANIFEST_FILE,
    ModelManifest,
    ModelRejected,
    decode_manifest,
    encode_manifest,
    sha256_of,
)

CURRENT_FILE = "CURRENT"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_VERSION = re.compile(r"\d{8}T\d{6}Z(-\d+)?")


class RegistryError(Exception):
    """The registry on disk is not as expected (bad name, version already stored, unknown version)."""


def version_for(created_at_ns: int) -> str:
    """The version name of a model trained at `created_at_ns` (UTC, second resolution)."""
    return datetime.fromtimestamp(created_at_ns / 1e9, tz=UTC).strftime("%Y%m%dT%H%M%SZ")


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise RegistryError(f"model name {name!r}: use letters, digits, '_', '-', '.' (at most 64)")
    return name


class ModelRegistry:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def directory(self, name: str, version: str) -> Path:
        return self.root / _check_name(name) / version

    def versions(self, name: str) -> list[str]:
        """Stored versions of `name`, oldest first."""
        folder = self.root / _check_name(name)
        if not folder.is_dir():
            return []
        return sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and _VERSION.fullmatch(entry.name))

    def free_version(self, name: str, created_at_ns: int) -> str:
        """`version_for(created_at_ns)`, with a -2, -3... suffix if that second is already taken."""
        base = version_for(created_at_ns)
        taken = set(self.versions(name))
        if base not in taken:
            return base
        suffix = 2
        while f"{base}-{suffix}" in taken:
            suffix += 1
        return f"{base}-{suffix}"

    def store(self, manifest: ModelManifest, model_bytes: bytes) -> Path:
        """Write a new version (not made current). The manifest's sha256 must be the file's."""
        if sha256_of(model_bytes) != manifest.model_sha256:
            raise RegistryError(f"{manifest.name} {manifest.version}: manifest sha256 is not the model file's")
        if not _VERSION.fullmatch(manifest.version):
            raise RegistryError(f"version {manifest.version!r} is not a YYYYMMDDTHHMMSSZ training time")
        final = self.directory(manifest.name, manifest.version)
        if final.exists():
            raise RegistryError(f"{manifest.name} {manifest.version} is already stored at {final}")
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{manifest.version}-", dir=final.parent))
        try:
            write_synced(staging / manifest.model_file, model_bytes)
            write_synced(staging / MANIFEST_FILE, encode_manifest(manifest))
            fsync_path(staging)
            os.rename(staging, final)
            fsync_path(final.parent)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return final

    def promote(self, name: str, version: str) -> None:
        """Make `version` current: CURRENT is replaced in one rename."""
        if version not in self.versions(name):
            raise RegistryError(f"{name} has no stored version {version!r} to promote")
        folder = self.root / name
        temporary = folder / f".{CURRENT_FILE}.{os.getpid()}.{time.monotonic_ns()}"
        write_synced(temporary, f"{version}\n".encode())
        os.replace(temporary, folder / CURRENT_FILE)
        fsync_path(folder)

    def current_version(self, name: str) -> str | None:
        try:
            text = (self.root / _check_name(name) / CURRENT_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        if not _VERSION.fullmatch(text):
            raise RegistryError(f"{self.root / name / CURRENT_FILE} holds {text[:40]!r}, not a version")
        return text

    def load_manifest(self, name: str, version: str) -> ModelManifest:
        path = self.directory(name, version) / MANIFEST_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ModelRejected(f"{path}: no manifest") from None
        manifest = decode_manifest(data, str(path))
        if manifest.name != name or manifest.version != version:
            raise ModelRejected(f"{path}: manifest is for {manifest.name} {manifest.version}, not {name} {version}")
        return manifest

    def read(self, name: str, version: str) -> tuple[ModelManifest, bytes]:
        """The manifest and the model file's bytes (unverified: see bot.models.manifest.verify)."""
        manifest = self.load_manifest(name, version)
        path = self.directory(name, version) / manifest.model_file
        try:
            return manifest, path.read_bytes()
        except FileNotFoundError:
            raise ModelRejected(f"{path}: model file missing") from None

    def prune(self, name: str, keep: int) -> list[str]:
        """Delete the oldest versions beyond the newest `keep`; never the current one."""
        if keep < 1:
            raise RegistryError(f"keep must be at least 1, got {keep}")
        current = self.current_version(name)
        stored = self.versions(name)
        removable = [version for version in stored[:-keep] if version != current]
        for version in removable:
            shutil.rmtree(self.directory(name, version))
        return removable
