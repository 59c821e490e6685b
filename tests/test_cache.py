import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from course_utils import cache


def test_round_trip_and_checksum(tmp_path):
    arrays = {"x": np.arange(12, dtype=np.uint8).reshape(3, 4), "names": np.array(["a", "bb"])}
    cache.save_arrays(tmp_path / "c.npz", arrays)
    back = cache.load_arrays(tmp_path / "c.npz")
    assert back.keys() == arrays.keys()
    for k in arrays:
        np.testing.assert_array_equal(back[k], arrays[k])


def test_truncated_or_tampered_file_is_rejected(tmp_path):
    path = tmp_path / "c.npz"
    cache.save_arrays(path, {"x": np.arange(1000)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert cache.load_arrays(path) is None
    cache.save_arrays(path, {"x": np.arange(1000)})
    np.savez(path, x=np.arange(1000) + 1, __sha256__=np.array(cache.checksum({"x": np.arange(1000)})))
    assert cache.load_arrays(path) is None


def test_cached_builds_once_then_reads(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    calls = []

    def build():
        calls.append(1)
        return {"v": np.arange(5)}

    first = cache.cached("thing", build, verbose=False)
    second = cache.cached("thing", build, verbose=False)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["v"], second["v"])


def test_killed_mid_write_leaves_no_corrupt_cache(tmp_path):
    """A process killed while writing the cache: the next run rebuilds a correct one."""
    script = textwrap.dedent(f"""
        import os, signal, numpy as np
        os.environ["COURSE_DATA_DIR"] = {str(tmp_path)!r}
        from course_utils import cache
        real_savez = np.savez
        def savez_then_die(f, **arrays):
            real_savez(f, **arrays)
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)   # dies after writing, before the rename
        np.savez = savez_then_die
        cache.cached("big", lambda: {{"v": np.arange(10**6)}}, verbose=False)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode != 0  # it really was killed
    leftovers = list((tmp_path / "cache").iterdir())
    assert leftovers and not (tmp_path / "cache" / "big.npz").exists()  # only a temp file remains
    os.environ["COURSE_DATA_DIR"] = str(tmp_path)
    try:
        arrays = cache.cached("big", lambda: {"v": np.arange(10**6)}, verbose=False)
    finally:
        del os.environ["COURSE_DATA_DIR"]
    np.testing.assert_array_equal(arrays["v"], np.arange(10**6))
    assert cache.load_arrays(tmp_path / "cache" / "big.npz") is not None


def test_corrupt_cache_file_is_rebuilt(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    cache.cached("c", lambda: {"v": np.arange(3)}, verbose=False)
    cache.cache_path("c").write_bytes(b"garbage")
    out = cache.cached("c", lambda: {"v": np.arange(3)})
    np.testing.assert_array_equal(out["v"], np.arange(3))
    assert "corrupt" in capsys.readouterr().out


@pytest.mark.parametrize("parts", [("a", 1), ("a", 2), ("b", 1)])
def test_cache_key_changes_with_inputs(parts):
    assert cache.cache_key(*parts) != cache.cache_key("zzz")
    assert cache.cache_key(*parts) == cache.cache_key(*parts)


def test_atomic_write_replaces_the_file_in_one_step(tmp_path):
    from course_utils.config import atomic_write
    target = tmp_path / "sub" / "f.bin"
    atomic_write(target, lambda f: f.write(b"old"))
    atomic_write(target, lambda f: f.write(b"new"))
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["f.bin"]      # no temporary file left


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    from course_utils.config import atomic_write
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def half_then_crash(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, half_then_crash)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_atomic_write_fsyncs_a_temporary_file_in_the_same_folder(tmp_path, monkeypatch):
    import os
    from course_utils import config
    synced, replaced = [], []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(config.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    monkeypatch.setattr(config.os, "replace", lambda a, b: (replaced.append((a, b)), real_replace(a, b)))
    config.atomic_write(tmp_path / "f.bin", lambda f: f.write(b"x"))
    assert len(synced) == 1, "the data must reach the disk before the rename"
    (src, dst), = replaced
    assert os.path.dirname(src) == str(tmp_path) and str(dst) == str(tmp_path / "f.bin")
