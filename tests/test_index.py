"""The FAISS search index behind FaceDatabase.identify, checked against NumPy brute force."""
import json

import numpy as np
import pytest

from course_utils import index as key_index
from course_utils.database import FaceDatabase

faiss = pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")


def _unit(rng, n, d=32):
    x = rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _database(rng, index, people=300, per_person=3, d=32, reduce="min"):
    db = FaceDatabase(threshold=1.0, index=index, reduce=reduce)
    centres = _unit(rng, people, d)
    for p in range(people):
        db.enroll(f"person{p:04d}", embeddings=centres[p] + 0.3 * rng.normal(size=(per_person, d)))
    return db, centres


def _brute_reference(db, queries, k):
    """Independent reference: loop over people, min squared distance to any of their embeddings."""
    out = []
    for q in queries:
        q = q / np.linalg.norm(q)
        dist = {n: float(np.min(np.sum((db.embeddings_of(n).astype(np.float64) - q) ** 2, axis=1)))
                for n in db.names}
        out.append(sorted(dist.items(), key=lambda item: (item[1], item[0]))[:k])
    return out


@pytest.mark.parametrize("reduce", ["min", "mean"])
def test_exact_index_gives_the_brute_force_answers(reduce):
    rng = np.random.default_rng(0)
    db, centres = _database(rng, "exact", reduce=reduce)
    brute = FaceDatabase(threshold=1.0, index="brute", reduce=reduce)
    for name in db.names:
        brute.enroll(name, embeddings=db.embeddings_of(name))
    queries = centres[:50] + 0.3 * rng.normal(size=(50, centres.shape[1]))
    got = db.identify_batch(embeddings=queries, k=5)
    want = brute.identify_batch(embeddings=queries, k=5)
    assert db._search_cache[2].kind == "exact"
    for g, w in zip(got, want):
        assert g.name == w.name
        assert [n for n, _ in g.top_k] == [n for n, _ in w.top_k]
        np.testing.assert_allclose([d for _, d in g.top_k], [d for _, d in w.top_k], atol=1e-9)
    if reduce == "min":          # and both match a plain loop over people
        for g, ref in zip(got[:10], _brute_reference(db, queries[:10], 5)):
            assert [n for n, _ in g.top_k] == [n for n, _ in ref]
            np.testing.assert_allclose([d for _, d in g.top_k], [d for _, d in ref], atol=1e-5)


def test_hnsw_recall_against_brute_force():
    rng = np.random.default_rng(1)
    keys = _unit(rng, 20_000, 64)
    queries = _unit(rng, 300, 64)
    truth = np.argmax(queries.astype(np.float64) @ keys.astype(np.float64).T, axis=1)
    _, ids = key_index.KeyIndex(keys, kind="hnsw").search(queries, 1)
    recall = float(np.mean(ids[:, 0] == truth))
    assert recall >= 0.9, recall
    # the scores returned are the exact float64 dots of the keys found
    dots, ids = key_index.KeyIndex(keys, kind="hnsw").search(queries[:5], 3)
    np.testing.assert_allclose(dots, np.einsum("qd,qkd->qk", queries[:5].astype(np.float64),
                                               keys[ids].astype(np.float64)), atol=1e-12)


def test_auto_picks_by_size_and_argument_wins():
    assert key_index.resolve_kind("auto", 100) == "brute"
    assert key_index.resolve_kind("auto", key_index.EXACT_FROM) == "exact"
    assert key_index.resolve_kind("auto", key_index.APPROXIMATE_FROM) == "hnsw"
    assert key_index.resolve_kind("hnsw", 10) == "hnsw"
    with pytest.raises(ValueError, match="index must be one of"):
        FaceDatabase(index="fast")


def test_index_is_rebuilt_after_enrolment():
    rng = np.random.default_rng(2)
    db, centres = _database(rng, "exact", people=20)
    newcomer = _unit(rng, 1, 32)[0]
    assert db.identify(embedding=newcomer, threshold=4.0).name != "zed"
    db.enroll("zed", embeddings=newcomer)
    assert db.identify(embedding=newcomer).name == "zed"
    db.rename("zed", "zoe")
    assert db.identify(embedding=newcomer).name == "zoe"
    db.remove("zoe")
    assert db.identify(embedding=newcomer, threshold=4.0).name != "zoe"


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_saved_index_lies_next_to_the_database_and_loads_without_pickle(tmp_path, kind):
    rng = np.random.default_rng(3)
    db, centres = _database(rng, kind, people=100)
    queries = centres[:20] + 0.2 * rng.normal(size=(20, 32))
    before = [r.top_k for r in db.identify_batch(embeddings=queries, k=3)]
    db.save(tmp_path / "class")
    assert (tmp_path / "class.faiss").exists()
    assert json.loads((tmp_path / "class.json").read_text())["index"] == kind
    loaded = FaceDatabase.load(tmp_path / "class")
    assert loaded._search_cache is not None and loaded._search_cache[2].kind == kind   # read, not rebuilt
    after = [r.top_k for r in loaded.identify_batch(embeddings=queries, k=3)]
    assert after == before


def test_stale_saved_index_is_ignored_with_a_warning(tmp_path):
    rng = np.random.default_rng(4)
    db, _ = _database(rng, "exact", people=10)
    db.save(tmp_path / "a")
    other, _ = _database(rng, "exact", people=12)
    other.save(tmp_path / "b")
    (tmp_path / "b.faiss").replace(tmp_path / "a.faiss")
    with pytest.warns(UserWarning, match="stale"):
        loaded = FaceDatabase.load(tmp_path / "a")
    assert loaded.identify(embedding=db.embeddings_of("person0003")[0]).name == "person0003"


def test_brute_fallback_without_faiss(monkeypatch):
    monkeypatch.setattr(key_index, "faiss_available", lambda: False)
    assert key_index.resolve_kind("auto", 10_000_000) == "brute"
    with pytest.raises(ImportError, match="pip install faiss-cpu"):
        key_index.resolve_kind("exact", 10)
    rng = np.random.default_rng(5)
    db, centres = _database(rng, "auto", people=30)
    assert db.identify(embedding=centres[7]).name == "person0007"
