"""Downloads that fail fast when offline, show progress and verify a checksum.

Classrooms are often offline. Before any download we check in a few seconds whether the host
can be reached at all; if not, :class:`DownloadError` says so at once (no long hang) and the
caller falls back to the embedded synthetic faces. Files are written to ``name.part`` and only
renamed into place after their SHA-256 matches, so a broken download never looks complete.
"""
from __future__ import annotations

import hashlib
import socket
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from course_utils.config import atomic_write, offline

CONNECT_TIMEOUT_S = 4.0


class DownloadError(RuntimeError):
    """A download could not be done; the message says why and what to do instead."""


def can_reach(url: str, timeout: float = CONNECT_TIMEOUT_S) -> bool:
    """True if a TCP connection to ``url``'s host opens within ``timeout`` seconds."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def download(url: str, dest: str | Path, sha256: str | None = None, desc: str | None = None,
             timeout: float = CONNECT_TIMEOUT_S) -> Path:
    """Download ``url`` to ``dest`` with a progress bar; verify ``sha256`` if given.

    Raises :class:`DownloadError` quickly when ``COURSE_OFFLINE=1`` is set, when the host is
    unreachable, on HTTP errors, or on a checksum mismatch (the partial file is removed).
    """
    dest = Path(dest)
    if dest.exists() and (sha256 is None or file_sha256(dest) == sha256):
        return dest
    if offline():
        raise DownloadError(f"Not downloading {url}: COURSE_OFFLINE=1 is set.")
    if not can_reach(url, timeout):
        raise DownloadError(
            f"No internet connection: could not reach {urlparse(url).hostname} within {timeout:.0f} s. "
            "Connect to the internet and try again, or point the course at a local copy "
            "(see README, 'Data')."
        )

    def fetch(out) -> None:
        """Stream ``url`` into ``out``; a failure or a wrong checksum raises, and the helper
        then removes the temporary file, so ``dest`` is never half-written."""
        h = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                from tqdm.auto import tqdm
                with tqdm(total=total, unit="B", unit_scale=True, desc=desc or dest.name) as bar:
                    while chunk := resp.read(1 << 16):
                        out.write(chunk)
                        h.update(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            raise DownloadError(f"Download of {url} failed: {err}. Try again later.") from None
        if sha256 is not None and h.hexdigest() != sha256:
            raise DownloadError(
                f"Downloaded file {dest.name} is damaged (SHA-256 {h.hexdigest()[:12]}… ≠ expected "
                f"{sha256[:12]}…). It was deleted; run the same command again."
            )

    return atomic_write(dest, fetch)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
