"""Tests for course_utils.database.FaceDatabase (fake NumPy encoders; one tiny Keras model)."""
import json
import os
import warnings

import numpy as np
import pytest

from course_utils import database as database_module
from course_utils.database import UNKNOWN, FaceDatabase, IdentifyResult, VerifyResult

SIZE, DIM = 4, 32
RNG = np.random.default_rng(0)
PROJECTION = RNG.normal(size=(SIZE * SIZE * 3, DIM))
PEOPLE = {name: RNG.normal(size=(SIZE, SIZE, 3)) for name in ["alice", "bob", "carol", "stranger"]}


class FakeEncoder:
    """Deterministic NumPy 'network': flatten → fixed projection → unit length."""
    input_shape = (None, SIZE, SIZE, 3)

    def __init__(self):
        self.calls = 0

    def __call__(self, images):
        self.calls += 1
        z = images.reshape(len(images), -1) @ PROJECTION
        return z / np.linalg.norm(z, axis=1, keepdims=True)


class PredictEncoder(FakeEncoder):
    """Looks like a Keras model: has .predict(x, verbose=0), which must be preferred."""

    def predict(self, images, verbose=1):
        assert verbose == 0
        self.predicted = True
        return FakeEncoder.__call__(self, images)

    def __call__(self, images):
        raise AssertionError("a model with .predict should be used through predict")


def photos(name, n=3, noise=0.02, seed=1):
    rng = np.random.default_rng(seed)
    return PEOPLE[name][None] + noise * rng.normal(size=(n, SIZE, SIZE, 3))


def e(*values):
    return np.array(values, dtype=np.float64)


@pytest.fixture
def db():
    db = FaceDatabase(encoder=FakeEncoder(), threshold=0.5)
    for name in ["alice", "bob", "carol"]:
        db.enroll(name, photos(name))
    return db


def snapshot(db):
    return (db.names, db.dim, {n: db.embeddings_of(n) for n in db.names})


def assert_same_state(before, db):
    names, dim, embeddings = before
    assert db.names == names and db.dim == dim
    for n in names:
        np.testing.assert_array_equal(db.embeddings_of(n), embeddings[n])


# ---------------------------------------------------------------------------------------------
# Enrol, identify, verify
# ---------------------------------------------------------------------------------------------

def test_fake_encoder_separates_the_fake_people():
    """The other tests rely on this: different people >= 0.9 apart, photos of one person < 0.01."""
    z = FakeEncoder()(np.stack(list(PEOPLE.values())))
    between = ((z[:, None] - z[None]) ** 2).sum(-1)[~np.eye(len(z), dtype=bool)]
    assert between.min() > 0.9
    for name in PEOPLE:
        within = FakeEncoder()(photos(name, n=4, seed=99)) - FakeEncoder()(PEOPLE[name][None])
        assert (within ** 2).sum(1).max() < 0.01


def test_enroll_identify_verify_with_encoder(db):
    assert len(db) == 3 and db.names == ["alice", "bob", "carol"] and db.dim == DIM
    assert "bob" in db and "dave" not in db
    for name in ["alice", "bob", "carol"]:
        probe = photos(name, n=1, seed=7)[0]                # a new photo, one image (H, W, 3)
        result = db.identify(probe)
        assert isinstance(result, IdentifyResult) and result.name == name and result.is_known
        assert result.distance < 0.05
        assert db.verify(probe, name).accepted
        other = "bob" if name != "bob" else "alice"
        rejected = db.verify(probe, other)
        assert isinstance(rejected, VerifyResult) and not rejected.accepted and rejected.distance > 0.5


def test_distances_are_squared_euclidean_to_nearest_image(db):
    probe = photos("alice", n=1, seed=9)
    q = FakeEncoder()(probe)[0]
    expected = min(np.sum((q - k) ** 2) for k in db.embeddings_of("alice"))
    assert db.verify(probe[0], "alice").distance == pytest.approx(expected, abs=1e-6)


def test_unknown_person_is_rejected_but_ranked(db):
    result = db.identify(photos("stranger", n=1)[0], k=3)
    assert result.name == UNKNOWN and not result.is_known
    assert result.distance > db.threshold
    assert [n for n, _ in result.top_k] != [] and result.top_k[0][1] == result.distance
    # With a huge threshold the same face is "recognised" as its nearest person.
    assert db.identify(photos("stranger", n=1)[0], threshold=4.0).name == result.top_k[0][0]


def test_top_k_is_sorted_over_distinct_people(db):
    db.enroll("alice", photos("alice", n=5, seed=3))       # more images must not mean more rows
    result = db.identify(photos("bob", n=1, seed=4)[0], k=10)
    names = [n for n, _ in result.top_k]
    distances = [d for _, d in result.top_k]
    assert sorted(names) == ["alice", "bob", "carol"] and names[0] == "bob"
    assert distances == sorted(distances)
    assert len(db.identify(photos("bob", n=1)[0], k=2).top_k) == 2


def test_identify_batch_matches_single_queries(db):
    queries = np.concatenate([photos(n, n=2, seed=5) for n in ["carol", "stranger", "alice"]])
    batch = db.identify_batch(queries, k=2)
    single = [db.identify(q, k=2) for q in queries]
    assert [r.name for r in batch] == [r.name for r in single] == ["carol"] * 2 + [UNKNOWN] * 2 + ["alice"] * 2
    for a, b in zip(batch, single):
        assert a.distance == pytest.approx(b.distance) and [n for n, _ in a.top_k] == [n for n, _ in b.top_k]


def test_predict_is_used_when_the_encoder_has_it():
    encoder = PredictEncoder()
    db = FaceDatabase(encoder=encoder)
    db.enroll("alice", photos("alice"))
    assert encoder.predicted and db.identify(photos("alice", n=1)[0]).name == "alice"


def test_with_a_real_keras_model():
    keras = pytest.importorskip("keras")
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Dense(DIM)(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.UnitNormalization()(x))
    db = FaceDatabase(encoder=model, threshold=0.5)
    db.enroll("alice", photos("alice").astype("float32"))
    db.enroll("bob", photos("bob").astype("float32"))
    assert db.identify(photos("bob", n=1, seed=8)[0].astype("float32")).name == "bob"
    with pytest.raises(ValueError, match=r"expects images of shape \(N, 4, 4, 3\)"):
        db.identify(np.zeros((5, 5, 3), "float32"))


def test_plain_embeddings_exact_distances():
    db = FaceDatabase(threshold=0.5)                          # no encoder needed
    assert db.enroll("a", embeddings=e(1, 0, 0)) == 1
    assert db.enroll("b", embeddings=e(0, 1, 0)) == 1
    result = db.identify(embedding=e(0.8, 0.6, 0), k=2)       # ‖q − a‖² = 2 − 1.6, ‖q − b‖² = 2 − 1.2
    assert result.name == "a" and result.top_k == [("a", pytest.approx(0.4)), ("b", pytest.approx(0.8))]
    assert db.verify(embedding=e(0.8, 0.6, 0), claimed_name="b").accepted is False
    assert db.verify(embedding=e(0.8, 0.6, 0), claimed_name="b", threshold=0.8).accepted is True  # <= joins
    assert db.identify(embedding=e(0, 0, 1)).name == UNKNOWN  # distance 2 to both
    # Exactly at the threshold counts as a match (distance <= threshold), for identify and verify.
    assert db.identify(embedding=e(0, 0, 1), threshold=2.0).name == "a"
    assert db.identify_batch(embeddings=[e(0, 0, 1)], threshold=2.0)[0].name == "a"
    assert db.verify(embedding=e(0, 0, 1), claimed_name="b", threshold=2.0).accepted
    assert db.identify(embedding=e(0, 0, 1), threshold=1.999).name == UNKNOWN
    assert db.identify(embedding=e(3, 0, 0)).distance == pytest.approx(0.0)    # re-normalised


def test_reduce_mean_uses_the_normalised_mean():
    embeddings = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    by_min = FaceDatabase(reduce="min")
    by_mean = FaceDatabase(reduce="mean")
    for db in (by_min, by_mean):
        db.enroll("a", embeddings=embeddings)
    assert by_min.verify(embedding=e(1, 0, 0), claimed_name="a").distance == pytest.approx(0.0)
    # Mean of e0 and e1, normalised: (1, 1, 0)/√2 → distance from e0 = 2 − 2/√2.
    assert by_mean.verify(embedding=e(1, 0, 0), claimed_name="a").distance == pytest.approx(2 - np.sqrt(2))


def test_enroll_same_name_adds(db):
    before = db.embeddings_of("alice")
    assert db.enroll("alice", photos("alice", n=2, seed=11)) == 5
    assert db.enroll("alice", photos("alice", n=1)[0]) == 6           # a single (H, W, 3) image
    assert db.count("alice") == 6 and db.count("nobody") == 0
    np.testing.assert_array_equal(db.embeddings_of("alice")[:3], before)
    assert len(db) == 3
    norms = np.linalg.norm(db.embeddings_of("alice"), axis=1)
    assert db.embeddings_of("alice").dtype == np.float32 and np.allclose(norms, 1, atol=1e-6)


def test_remove_and_rename(db):
    db.remove("carol")
    assert db.names == ["alice", "bob"] and "carol" not in db
    bob = db.embeddings_of("bob")
    db.rename("bob", "robert")
    assert db.names == ["alice", "robert"]
    np.testing.assert_array_equal(db.embeddings_of("robert"), bob)
    with pytest.raises(ValueError, match="merge=True"):
        db.rename("robert", "alice")
    assert db.names == ["alice", "robert"]
    db.rename("robert", "alice", merge=True)
    assert db.names == ["alice"] and db.count("alice") == 6
    with pytest.raises(ValueError, match="not enrolled"):
        db.remove("bob")
    db.remove("alice")
    assert len(db) == 0 and db.dim is None                 # empty again: any dimension may come next
    db.enroll("zed", embeddings=np.ones(3))
    assert db.dim == 3


# ---------------------------------------------------------------------------------------------
# Save / load
# ---------------------------------------------------------------------------------------------

def assert_same_database(a, b):
    assert a.names == b.names and a.dim == b.dim
    assert a.threshold == b.threshold and a.reduce == b.reduce
    for n in a.names:
        np.testing.assert_array_equal(a.embeddings_of(n), b.embeddings_of(n))


def test_save_load_round_trip(db, tmp_path):
    db.threshold, db.reduce = 0.7, "mean"
    db.enroll("bob", photos("bob", n=2, seed=12))
    npz_path, json_path = db.save(tmp_path / "keys")
    assert npz_path.name == "keys.npz" and json_path.name == "keys.json"
    settings = json.loads(json_path.read_text())
    assert settings["names"] == db.names and settings["threshold"] == 0.7 and settings["reduce"] == "mean"
    assert settings["dim"] == DIM and settings["version"] == 1
    with np.load(npz_path, allow_pickle=False) as data:       # plain arrays only, no pickled objects
        assert data["embeddings"].dtype == np.float32 and data["owner"].dtype.kind == "i"
    for spelling in (tmp_path / "keys", tmp_path / "keys.npz", str(tmp_path / "keys.json")):
        loaded = FaceDatabase.load(spelling, encoder=FakeEncoder())
        assert_same_database(db, loaded)
    probe = photos("carol", n=1, seed=3)[0]
    assert loaded.identify(probe, k=3) == db.identify(probe, k=3)


def test_save_load_empty_database(tmp_path):
    FaceDatabase(threshold=0.3).save(tmp_path / "empty")
    loaded = FaceDatabase.load(tmp_path / "empty")
    assert len(loaded) == 0 and loaded.dim is None and loaded.threshold == 0.3
    with pytest.raises(FileNotFoundError, match="no saved database"):
        FaceDatabase.load(tmp_path / "missing")


def test_failed_save_leaves_old_database_intact(db, tmp_path, monkeypatch):
    db.save(tmp_path / "keys")
    old_files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    old = FaceDatabase.load(tmp_path / "keys")
    db.enroll("dave", embeddings=np.ones(DIM))

    def broken_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated"):
        db.save(tmp_path / "keys")
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == old_files    # no temp files left
    assert_same_database(old, FaceDatabase.load(tmp_path / "keys"))


def test_crash_while_writing_the_npz(db, tmp_path, monkeypatch):
    db.save(tmp_path / "keys")
    old = FaceDatabase.load(tmp_path / "keys")
    db.enroll("dave", embeddings=np.ones(DIM))

    def half_written(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt                                # e.g. the notebook kernel is interrupted

    monkeypatch.setattr(database_module.np, "savez", half_written)
    with pytest.raises(KeyboardInterrupt):
        db.save(tmp_path / "keys")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.json", "keys.npz"]
    assert_same_database(old, FaceDatabase.load(tmp_path / "keys"))


def test_crash_between_the_two_files_gives_the_new_database(db, tmp_path, monkeypatch):
    db.save(tmp_path / "keys")
    db.enroll("dave", embeddings=np.ones(DIM))
    real_replace = os.replace
    calls = []

    def second_replace_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("power cut (simulated)")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", second_replace_fails)
    with pytest.raises(OSError):
        db.save(tmp_path / "keys")
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="does not match"):
        loaded = FaceDatabase.load(tmp_path / "keys")
    assert_same_database(db, loaded)                            # the .npz is the commit point
    db.save(tmp_path / "keys")                                  # saving again brings them back in step
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FaceDatabase.load(tmp_path / "keys")


# ---------------------------------------------------------------------------------------------
# Errors: clear messages, and a failed enrol changes nothing
# ---------------------------------------------------------------------------------------------

def test_empty_database_errors():
    db = FaceDatabase(encoder=FakeEncoder())
    with pytest.raises(ValueError, match=r"enrol someone first with db.enroll\(name, images\)"):
        db.identify(photos("alice", n=1)[0])
    with pytest.raises(ValueError, match="enrol someone first"):
        db.verify(photos("alice", n=1)[0], "alice")
    with pytest.raises(ValueError, match="enrol someone first"):
        db.identify_batch(photos("alice"))


def test_unknown_claimed_name_suggests_close_matches(db):
    with pytest.raises(ValueError, match="Did you mean 'alice'"):
        db.verify(photos("alice", n=1)[0], "alcie")
    with pytest.raises(ValueError, match="not enrolled"):
        db.verify(photos("alice", n=1)[0], "zzz")
    with pytest.raises(ValueError, match="claimed_name"):
        db.verify(photos("alice", n=1)[0])


def test_bad_query_errors(db):
    image = photos("alice", n=1)[0]
    with pytest.raises(ValueError, match="greyscale"):
        db.identify(image[..., 0])
    with pytest.raises(ValueError, match="3 colour channels"):
        db.identify(image[..., :1])
    with pytest.raises(ValueError, match=r"expects images of shape \(N, 4, 4, 3\)"):
        db.identify(np.zeros((6, 6, 3)))
    with pytest.raises(ValueError, match="exactly one"):
        db.identify(image, embedding=np.ones(DIM))
    with pytest.raises(ValueError, match="dimension 5"):
        db.identify(embedding=np.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        db.identify(embedding=np.full(DIM, np.nan))
    with pytest.raises(ValueError, match="one face"):
        db.identify(photos("alice", n=2))
    with pytest.raises(ValueError, match="positive int"):
        db.identify(image, k=0)
    with pytest.raises(ValueError, match="threshold"):
        db.identify(image, threshold=-1)


def test_constructor_errors():
    with pytest.raises(ValueError, match="reduce"):
        FaceDatabase(reduce="median")
    with pytest.raises(ValueError, match="threshold"):
        FaceDatabase(threshold=np.inf)
    with pytest.raises(ValueError, match="encoder"):
        FaceDatabase(encoder="facenet.keras")


class NaNEncoder(FakeEncoder):
    def __call__(self, images):
        return np.full((len(images), DIM), np.nan)


@pytest.mark.parametrize("bad_enrol, message", [
    (lambda db: db.enroll("alice", photos("alice")[..., 0]), "3 colour channels"),
    (lambda db: db.enroll("alice", photos("alice")[0, ..., 0]), "greyscale"),
    (lambda db: db.enroll("alice", np.zeros((2, 5, 5, 3))), "expects images"),
    (lambda db: db.enroll("alice", embeddings=np.ones((2, DIM + 1))), "dimension"),
    (lambda db: db.enroll("alice", embeddings=np.r_[np.ones(DIM - 1), np.nan]), "NaN"),
    (lambda db: db.enroll("alice", embeddings=np.zeros(DIM)), "all-zero"),
    (lambda db: db.enroll("", photos("alice")), "non-empty string"),
    (lambda db: db.enroll(42, photos("alice")), "non-empty string"),
    (lambda db: db.enroll(UNKNOWN, photos("alice")), "reserved"),
    (lambda db: db.enroll("alice"), "exactly one"),
    (lambda db: db.enroll("alice", np.zeros((0, SIZE, SIZE, 3))), "empty batch"),
])
def test_failed_enrol_changes_nothing(db, bad_enrol, message):
    before = snapshot(db)
    with pytest.raises(ValueError, match=message):
        bad_enrol(db)
    assert_same_state(before, db)


def test_encoder_problems_change_nothing(db):
    before = snapshot(db)
    db.encoder = NaNEncoder()
    with pytest.raises(ValueError, match="NaN"):
        db.enroll("alice", photos("alice"))
    db.encoder = lambda images: np.ones((len(images) + 1, DIM))
    with pytest.raises(ValueError, match="one embedding per image"):
        db.enroll("alice", photos("alice"))
    db.encoder = None
    with pytest.raises(ValueError, match="no encoder"):
        db.enroll("dave", photos("alice"))
    assert_same_state(before, db)


def test_failed_first_enrol_leaves_database_empty():
    db = FaceDatabase()
    with pytest.raises(ValueError, match="no encoder"):
        db.enroll("alice", photos("alice"))
    with pytest.raises(ValueError, match="NaN"):
        db.enroll("alice", embeddings=np.array([np.nan, 1.0]))
    assert len(db) == 0 and db.dim is None
    db.enroll("alice", embeddings=np.ones(4))                 # any dimension still allowed
    assert db.dim == 4


# ---------------------------------------------------------------- tampered files and bad names
def _saved(tmp_path):
    db = FaceDatabase(threshold=0.8)
    db.enroll("Ann", embeddings=[[1.0, 0.0, 0.0], [0.8, 0.6, 0.0]])
    db.enroll("Bob", embeddings=[[0.0, 0.0, 1.0]])
    db.save(tmp_path / "db")
    with np.load(tmp_path / "db.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return db, arrays


def _tamper(tmp_path, arrays, **changes):
    """Write db.npz again with some arrays (or the settings dict) replaced, as an attacker/bug would."""
    arrays = dict(arrays)
    settings = json.loads(str(arrays["settings"]))
    settings.update(changes.pop("settings", {}))
    arrays["settings"] = np.array(json.dumps(settings, ensure_ascii=False))
    arrays.update(changes)
    np.savez(tmp_path / "db.npz", **arrays)
    (tmp_path / "db.json").write_text(str(arrays["settings"]), encoding="utf-8")


@pytest.mark.parametrize("change, message", [
    (dict(owner=np.array([0, 0], np.int64)), "3 embeddings but 2 owner"),
    (dict(owner=np.array([0, 0, 5], np.int64)), "owner ids"),
    (dict(embeddings=np.array([[1, 0, 0], [np.nan, 0, 1], [0, 0, 1]], np.float32)), r"\['Ann'\] contain NaN"),
    (dict(embeddings=np.eye(3, 4, dtype=np.float32)), "dim=3 but the embeddings have 4"),
    (dict(embeddings=np.zeros((3, 3), np.float32)), "all zeros"),
    (dict(names=np.array(["Ann", "Ann"])), "does not match"),
    (dict(settings={"names": ["Ann", "Bob\x00"]}), "does not match"),
    (dict(settings={"threshold": -1}), "threshold"),
    (dict(settings={"version": 99}), "format version 99"),
])
def test_load_refuses_tampered_files_clearly(tmp_path, change, message):
    _, arrays = _saved(tmp_path)
    _tamper(tmp_path, arrays, **change)
    before = (tmp_path / "db.npz").read_bytes()
    with pytest.raises(ValueError, match=message):
        FaceDatabase.load(tmp_path / "db")
    assert (tmp_path / "db.npz").read_bytes() == before           # the file is never touched


def test_load_renormalises_non_unit_and_half_precision_vectors(tmp_path):
    db, arrays = _saved(tmp_path)
    _tamper(tmp_path, arrays, embeddings=(arrays["embeddings"] * 3).astype(np.float16))
    with pytest.warns(UserWarning, match="3 embedding.*re-normalised"):
        loaded = FaceDatabase.load(tmp_path / "db")
    for name in db.names:
        np.testing.assert_allclose(loaded.embeddings_of(name), db.embeddings_of(name), atol=1e-3)
    assert loaded.embeddings_of("Ann").dtype == np.float32
    # Half precision that *is* unit length loads silently.
    _tamper(tmp_path, arrays, embeddings=arrays["embeddings"].astype(np.float16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FaceDatabase.load(tmp_path / "db")


def test_truncated_file_is_a_clear_error(tmp_path):
    _saved(tmp_path)
    data = (tmp_path / "db.npz").read_bytes()
    (tmp_path / "db.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="damaged|could not be read"):
        FaceDatabase.load(tmp_path / "db")


@pytest.mark.parametrize("name", ["Bob\x00", "Bo\x07b", "\udcff", " Ann", "Ann\n"])
def test_names_that_cannot_round_trip_are_refused_on_enrol(name):
    db = FaceDatabase()
    db.enroll("Ann", embeddings=[1.0, 0.0])
    with pytest.raises(ValueError, match="name"):
        db.enroll(name, embeddings=[0.0, 1.0])
    assert db.names == ["Ann"]
    with pytest.raises(ValueError, match="name"):
        db.rename("Ann", name)
    assert db.names == ["Ann"]


def test_save_checks_every_name_before_writing(tmp_path):
    db = FaceDatabase()
    db.enroll("Ann", embeddings=[1.0, 0.0])
    db.save(tmp_path / "db")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    db._people["\udcff"] = db._people["Ann"].copy()               # got in behind the API's back
    with pytest.raises(ValueError, match="name"):
        db.save(tmp_path / "db")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before   # no half-done save


def test_unicode_names_round_trip(tmp_path):
    db = FaceDatabase()
    db.enroll("Zoë Ånström", embeddings=[1.0, 0.0])
    db.enroll("李雷", embeddings=[0.0, 1.0])
    db.save(tmp_path / "db")
    assert FaceDatabase.load(tmp_path / "db").names == db.names


def test_open_set_split_gives_disjoint_roles_and_every_photo_once():
    labels = np.repeat(np.arange(30), np.arange(30) % 5 + 1)     # 1 to 5 photos per person
    split = database_module.open_set_split(labels, n_enrolled=8, per_person=2, aside=1, rng=4)
    people = [set(split.enrolled), set(split.strangers), set(split.aside)]
    assert len(split.enrolled) == 8 and len(split.aside) == 1
    assert not (people[0] & people[1]) and not (people[0] & people[2]) and not (people[1] & people[2])
    assert set().union(*people) == set(labels)
    for p in split.enrolled:                       # enrolled: more than 2 photos, the first 2 in the gallery
        photos = np.flatnonzero(labels == p)
        assert len(photos) > 2 and list(split.gallery[labels[split.gallery] == p]) == list(photos[:2])
        assert list(split.known[labels[split.known] == p]) == list(photos[2:])
    assert set(labels[split.unknown]) == people[1] and len(split.unknown) == np.isin(labels, split.strangers).sum()
    again = database_module.open_set_split(labels, n_enrolled=8, per_person=2, aside=1, rng=4)
    assert np.array_equal(again.gallery, split.gallery) and np.array_equal(again.unknown, split.unknown)
    small = database_module.open_set_split(labels, n_enrolled=1000, per_person=2)
    assert len(small.enrolled) == 18 * 2 // 3          # 18 people have more than 2 photos
    with pytest.raises(ValueError, match="too few"):
        database_module.open_set_split(np.arange(5), n_enrolled=3)


# ---------------------------------------------------------------------------------------------
# Calibrating the threshold on the enrolled photos
# ---------------------------------------------------------------------------------------------

def test_calibrate_matches_a_loop_over_the_enrolled_pairs(capsys):
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(12, 8))
    db = FaceDatabase(threshold=0.5)
    rows = {}
    for k in range(12):
        rows[f"p{k:02d}"] = centres[k] + 0.5 * rng.normal(size=(3, 8))
        db.enroll(f"p{k:02d}", embeddings=rows[f"p{k:02d}"])
    # Reference: every pair of enrolled unit vectors, by loops, then the largest threshold with FAR <= 2 %.
    units = [(name, r / np.linalg.norm(r)) for name in sorted(rows) for r in rows[name]]
    d, same = [], []
    for i in range(len(units)):
        for j in range(i + 1, len(units)):
            d.append(float(np.sum((units[i][1] - units[j][1]) ** 2)))
            same.append(units[i][0] == units[j][0])
    d, same = np.array(d), np.array(same)
    fars = {t: np.mean(d[~same] <= t) for t in d}
    expected = max(t for t, f in fars.items() if f <= 0.02)
    cal = db.calibrate(far=0.02)
    assert cal.threshold == pytest.approx(expected, abs=1e-6)            # float32 storage
    assert (cal.n_genuine, cal.n_impostor) == (12 * 3, int((~same).sum())) and cal.warning == ""
    assert cal.frr == pytest.approx(np.mean(d[same] > expected))
    assert db.threshold == cal.threshold                                 # apply=True
    assert f"threshold 0.500 → {cal.threshold:.3f}" in capsys.readouterr().out


def test_calibrate_without_apply_and_with_too_few_photos(capsys):
    db = FaceDatabase(threshold=0.7)
    db.enroll("a", embeddings=[e(1, 0, 0), e(0.9, 0.1, 0)])
    cal = db.calibrate(apply=True)                         # one person: no different-person pair
    assert np.isnan(cal.threshold) and db.threshold == 0.7
    out = capsys.readouterr().out
    assert "one person" in out and "threshold stays 0.700 (no usable threshold" in out
    db.enroll("b", embeddings=[e(0, 1, 0), e(0, 0.9, 0.1)])
    cal = db.calibrate(far=0.01, apply=False, verbose=False)
    assert db.threshold == 0.7 and cal.usable and cal.n_impostor == 4
    assert "only 4 different-person pairs" in cal.warning and "25%" in cal.warning      # 1/4
    assert capsys.readouterr().out == ""
    # Exact ties (one-hot rows): a, b and c are 2 apart, a's two photos 0 apart -> FAR 0 at d <= 0.
    tied = FaceDatabase()
    for k, name in enumerate("abc"):
        tied.enroll(name, embeddings=np.eye(3)[[k, k]])
    assert tied.calibrate(far=0.0, verbose=False).threshold == 0.0
    assert tied.threshold == 0.0 and tied.identify(embedding=np.eye(3)[1]).name == "b"
    with pytest.raises(ValueError, match="database is empty"):
        FaceDatabase().calibrate()
    with pytest.raises(ValueError, match="rate between 0 and 1"):
        db.calibrate(far=-0.1)


# ---------------------------------------------------------------------------------------------
# Forgetting a person: memory, search index and the saved files
# ---------------------------------------------------------------------------------------------

def _saved_names_and_rows(base):
    with np.load(base.with_name(base.name + ".npz"), allow_pickle=False) as data:
        return [str(n) for n in data["names"]], len(data["embeddings"])


def test_remove_rewrites_the_saved_copy_without_the_person(db, tmp_path):
    db.save(tmp_path / "keys")
    db.enroll("dave", embeddings=np.ones(db.dim))                 # enrolled after the save: not written
    removal = db.remove("carol")
    assert (removal.name, removal.rows) == ("carol", 3) and "carol" not in db
    assert sorted(f.name for f in removal.files) == ["keys.json", "keys.npz"]
    assert _saved_names_and_rows(tmp_path / "keys") == (["alice", "bob"], 6)   # carol's 3 rows are gone
    assert "carol" not in (tmp_path / "keys.json").read_text()
    loaded = FaceDatabase.load(tmp_path / "keys")
    assert loaded.names == ["alice", "bob"] and loaded.saved_to == tmp_path / "keys"
    assert "carol" in str(removal) and "keys.npz" in str(removal)
    # A person the saved copy never held: the files are left alone.
    before = (tmp_path / "keys.npz").read_bytes()
    assert db.remove("dave").files == [] and (tmp_path / "keys.npz").read_bytes() == before
    # An unsaved database has no file to rewrite.
    fresh = FaceDatabase(threshold=0.5)
    fresh.enroll("x", embeddings=np.ones(3))
    assert fresh.remove("x").files == [] and fresh.saved_to is None


def test_remove_the_last_person_leaves_an_empty_saved_database(tmp_path):
    db = FaceDatabase(threshold=0.5)
    db.enroll("alice", embeddings=np.ones((2, 3)))
    db.save(tmp_path / "keys")
    db.remove("alice")
    loaded = FaceDatabase.load(tmp_path / "keys")
    assert len(loaded) == 0 and loaded.dim is None and _saved_names_and_rows(tmp_path / "keys") == ([], 0)


def test_remove_takes_the_person_out_of_the_search_index(tmp_path):
    pytest.importorskip("faiss")
    rng = np.random.default_rng(3)
    db = FaceDatabase(threshold=0.5, index="exact")
    for k, name in enumerate(["alice", "bob", "carol"]):
        db.enroll(name, embeddings=rng.normal(size=(4, 8)) + 3 * np.eye(8)[k])
    carol = db.embeddings_of("carol")
    assert db.identify(embedding=carol[0]).name == "carol"       # builds the FAISS index with carol's keys
    db.save(tmp_path / "keys")
    assert (tmp_path / "keys.faiss").exists()
    removal = db.remove("carol")
    assert tmp_path / "keys.faiss" in removal.files
    answer = db.identify(embedding=carol[0], k=2)
    assert answer.name != "carol" and all(n != "carol" for n, _ in answer.top_k)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                           # a stale saved index would only warn
        loaded = FaceDatabase.load(tmp_path / "keys")             # the saved index no longer holds carol's rows
    names, owner, index = loaded._key_index()
    assert names == ["alice", "bob"] and len(index) == 8 and len(owner) == 8
    assert loaded.identify(embedding=carol[0]).name != "carol"


# ---------------------------------------------------------------------------------------------
# Which encoder made the rows
# ---------------------------------------------------------------------------------------------

class OtherEncoder(FakeEncoder):
    """Another model of the same embedding size (another projection)."""

    def __call__(self, images):
        z = images.reshape(len(images), -1) @ PROJECTION[:, ::-1]
        return z / np.linalg.norm(z, axis=1, keepdims=True)


def test_a_database_refuses_an_encoder_other_than_the_one_that_enrolled_it(db, tmp_path):
    db.save(tmp_path / "keys")
    settings = json.loads((tmp_path / "keys.json").read_text())
    assert len(settings["encoder_mark"]["embedding"]) == DIM
    assert settings["encoder_mark"]["shape"] == [SIZE, SIZE, 3]
    before = (tmp_path / "keys.npz").read_bytes()
    with pytest.raises(ValueError, match="enrolled with a different encoder") as info:
        FaceDatabase.load(tmp_path / "keys", encoder=OtherEncoder())
    assert "keys.npz" in str(info.value) and "Nothing was changed" in str(info.value)
    assert (tmp_path / "keys.npz").read_bytes() == before
    # The same encoder (another object of the same model) is accepted, and answers as before.
    loaded = FaceDatabase.load(tmp_path / "keys", encoder=FakeEncoder())
    probe = photos("alice", n=1, seed=9)[0]
    assert loaded.identify(probe) == db.identify(probe)
    # Loaded without an encoder, then given the wrong one: refused before anything is enrolled.
    bare = FaceDatabase.load(tmp_path / "keys")
    bare.encoder = OtherEncoder()
    with pytest.raises(ValueError, match="different encoder"):
        bare.enroll("dave", photos("alice", n=1, seed=5))
    assert "dave" not in bare and bare.count("alice") == db.count("alice")
    with pytest.raises(ValueError, match="different encoder"):
        bare.identify(probe)


def test_the_encoder_mark_starts_again_when_the_database_is_empty_or_has_no_mark(tmp_path):
    db = FaceDatabase(encoder=FakeEncoder(), threshold=0.5)
    db.enroll("alice", photos("alice"))
    db.remove("alice")
    db.encoder = OtherEncoder()
    db.enroll("bob", photos("bob"))                       # empty again: the new encoder makes the rows
    db.save(tmp_path / "keys")
    FaceDatabase.load(tmp_path / "keys", encoder=OtherEncoder())
    # Rows given as embeddings carry no mark: any encoder of that size may be used with them.
    given = FaceDatabase(threshold=0.5)
    given.enroll("carol", embeddings=np.eye(DIM)[:2])
    given.save(tmp_path / "given")
    assert "encoder_mark" not in json.loads((tmp_path / "given.json").read_text())
    FaceDatabase.load(tmp_path / "given", encoder=OtherEncoder()).identify(photos("carol", n=1)[0])
