import hashlib
import http.server
import threading
import time
from functools import partial

import pytest

from course_utils import datasets
from course_utils.download import DownloadError, download


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def local_server(tmp_path):
    """A tiny HTTP server on 127.0.0.1 serving tmp_path/served."""
    root = tmp_path / "served"
    root.mkdir()
    handler = partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_verifies_checksum(local_server, tmp_path):
    root, url = local_server
    payload = b"faces" * 10_000
    (root / "f.bin").write_bytes(payload)
    out = download(f"{url}/f.bin", tmp_path / "got.bin", sha256=hashlib.sha256(payload).hexdigest())
    assert out.read_bytes() == payload


def test_damaged_download_is_deleted(local_server, tmp_path):
    root, url = local_server
    (root / "f.bin").write_bytes(b"not what we expected")
    with pytest.raises(DownloadError, match="damaged"):
        download(f"{url}/f.bin", tmp_path / "got.bin", sha256="0" * 64)
    assert not (tmp_path / "got.bin").exists() and not (tmp_path / "got.bin.part").exists()


def test_offline_fails_fast_with_clear_message(offline_network, tmp_path):
    t0 = time.time()
    with pytest.raises(DownloadError, match="No internet connection"):
        download("https://example.org/lfw.tgz", tmp_path / "x")
    assert time.time() - t0 < 2


def test_course_offline_flag_never_downloads(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(DownloadError, match="COURSE_OFFLINE"):
        download("https://example.org/lfw.tgz", tmp_path / "x")


def test_auto_falls_back_to_synthetic_when_offline(offline_network, capsys):
    t0 = time.time()
    faces = datasets.load_faces("auto", n_identities=5, images_per_identity=3)
    assert faces.source == "synthetic" and len(faces) == 15
    assert "offline" in capsys.readouterr().out
    assert time.time() - t0 < 10


def test_download_lfw_offline_is_a_clear_error(offline_network):
    with pytest.raises(DownloadError, match="No internet"):
        datasets.download_lfw()


def test_explicit_lfw_request_offline_raises(offline_network):
    with pytest.raises((DownloadError, FileNotFoundError)):
        datasets.load_faces("lfw")
