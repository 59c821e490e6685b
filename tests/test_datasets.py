import os
import time

import numpy as np
import pytest

from course_utils import datasets
from course_utils.datasets import FaceSet, make_pairs, split_by_identity
from tests.conftest import ATT_DIR, LFW_DIR, needs_att, needs_lfw, write_image


def toy_faces(people=6, per=4):
    labels = np.repeat(np.arange(people), per).astype(np.int32)
    images = np.zeros((len(labels), 8, 8, 3), np.uint8)
    images[..., 0] = labels[:, None, None]
    return FaceSet(images, labels, [f"p{k}" for k in range(people)], "toy")


# ---------------------------------------------------------------- containers, splits, pairs
def test_faceset_validates_its_arrays():
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        FaceSet(np.zeros((2, 8, 8)), np.zeros(2), ["a"])
    with pytest.raises(ValueError, match="labels"):
        FaceSet(np.zeros((2, 8, 8, 3)), np.zeros(3), ["a"])


def test_subset_relabels_compactly():
    faces = toy_faces()
    sub = faces.subset(np.isin(faces.labels, [1, 4]))
    assert sub.names == ["p1", "p4"] and set(sub.labels) == {0, 1}
    assert np.all(sub.images[sub.labels == 1, 0, 0, 0] == 4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_by_identity_has_no_leak(seed):
    faces = toy_faces(people=20)
    train, test = split_by_identity(faces, 0.25, seed=seed)
    assert not set(train.names) & set(test.names)
    assert len(train) + len(test) == len(faces) and test.n_identities == 5


def test_make_pairs_is_balanced_and_correct():
    faces = toy_faces(people=10)
    pairs = make_pairs(faces, 200, seed=3)
    assert pairs.same.sum() == 100
    truth = faces.labels[pairs.i] == faces.labels[pairs.j]
    np.testing.assert_array_equal(truth, pairs.same)
    assert np.all(pairs.i[pairs.same] != pairs.j[pairs.same])
    assert set(pairs.fold) == set(range(10))
    for k in range(10):                       # every fold mixes both kinds of pair
        assert pairs.same[pairs.fold == k].sum() == 10 and (pairs.fold == k).sum() == 20


def test_make_pairs_never_lists_a_pair_twice():
    faces = toy_faces(people=12, per=3)                    # 36 same-person pairs exist; 30 are drawn
    for seed in range(5):
        pairs = make_pairs(faces, 60, seed=seed)
        keys = {(min(a, b), max(a, b)) for a, b in zip(pairs.i, pairs.j)}
        assert len(keys) == 60, seed
    tiny = make_pairs(toy_faces(people=2, per=2), 10, seed=0)   # fewer distinct pairs than asked: repeats
    assert len(tiny) == 10 and tiny.same.sum() == 5


def test_pairs_distances_match_a_loop():
    faces = toy_faces()
    pairs = make_pairs(faces, 20, seed=0)
    emb = np.random.default_rng(0).normal(size=(len(faces), 5)).astype(np.float32)
    ref = [np.sum((emb[a] - emb[b]) ** 2) for a, b in zip(pairs.i, pairs.j)]
    np.testing.assert_allclose(pairs.distances(emb), ref, rtol=1e-6)
    with pytest.raises(ValueError, match="one embedding per face"):
        pairs.distances(emb[:3])


def test_make_pairs_needs_someone_with_two_images():
    faces = toy_faces(per=1)
    with pytest.raises(ValueError, match="2 or more images"):
        make_pairs(faces, 10)


# ---------------------------------------------------------------- any folder
def test_folder_of_mixed_photos(tmp_path):
    write_image(tmp_path / "Alice" / "1.jpg", size=(100, 80), fmt="JPEG")
    write_image(tmp_path / "Alice" / "2.PNG", size=(33, 60), mode="RGBA", fmt="PNG")
    write_image(tmp_path / "Alice" / "3.gif", mode="L", fmt="GIF")
    write_image(tmp_path / "Bob" / "lies.jpg", fmt="PNG")           # extension lies
    write_image(tmp_path / "Bob" / "x.pgm", mode="L", fmt="PPM")
    (tmp_path / "Bob" / ".DS_Store").write_bytes(b"junk")            # hidden: ignored
    (tmp_path / "Bob" / "notes.txt").write_text("not an image")      # not an image ending: ignored
    faces = datasets.load_folder(tmp_path, size=32)
    assert faces.images.shape == (5, 32, 32, 3) and faces.names == ["Alice", "Bob"]
    assert list(faces.counts()) == [3, 2]


def test_folder_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="Folder not found"):
        datasets.load_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="Expected"):
        datasets.load_folder(tmp_path / "empty")
    write_image(tmp_path / "flat" / "a.jpg", fmt="JPEG")
    with pytest.raises(ValueError, match="sub-folder"):
        datasets.load_folder(tmp_path / "flat")
    write_image(tmp_path / "bad" / "Ann" / "ok.png", fmt="PNG")
    (tmp_path / "bad" / "Ann" / "corrupt.jpg").write_bytes(b"\x00\x01garbage")
    with pytest.raises(ValueError, match="corrupt.jpg"):
        datasets.load_folder(tmp_path / "bad")


def test_folder_min_images_filters_people(tmp_path):
    for k in range(3):
        write_image(tmp_path / "Many" / f"{k}.png", fmt="PNG", seed=k)
    write_image(tmp_path / "One" / "0.png", fmt="PNG")
    faces = datasets.load_folder(tmp_path, size=16, min_images=2)
    assert faces.names == ["Many"]


# ---------------------------------------------------------------- synthetic & auto
def test_auto_uses_course_dataset_override(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATASET", "synthetic")
    faces = datasets.load_faces(n_identities=4, images_per_identity=2)
    assert faces.source == "synthetic" and "COURSE_DATASET" in capsys.readouterr().out


def test_synthetic_benchmark_is_identity_disjoint(monkeypatch):
    monkeypatch.setenv("COURSE_DATASET", "synthetic")
    monkeypatch.setenv("COURSE_QUICK", "1")
    bench = datasets.load_benchmark(verbose=False)
    train, val, test = set(bench.train.names), set(bench.val.faces.names), set(bench.test.faces.names)
    assert not (train & val or train & test or val & test)
    assert bench.test.same.sum() == len(bench.test) // 2


# ---------------------------------------------------------------- LFW (real data)
def test_read_lfw_pairs_formats(tmp_path):
    f = tmp_path / "pairs.txt"
    f.write_text("2\t1\nA\t1\t2\nA\t1\tB\t3\nC\t2\t4\nC\t1\tD\t1\n")
    pairs, same, fold = datasets.read_lfw_pairs(f)
    assert pairs[1] == ("A", 1, "B", 3) and list(same) == [True, False, True, False]
    assert list(fold) == [0, 0, 1, 1]
    view1 = "10\n" + "".join(f"P{k}\t1\t2\n" for k in range(10)) + "".join(f"P{k}\t1\tQ{k}\t1\n" for k in range(10))
    f.write_text(view1)
    _, same, fold = datasets.read_lfw_pairs(f)
    for k in range(10):                       # every fold holds one same and one different pair
        assert sorted(same[fold == k]) == [False, True]
    f.write_text("3\nA\t1\t2\n")
    with pytest.raises(ValueError, match="promises"):
        datasets.read_lfw_pairs(f)


@pytest.fixture(scope="module")
def lfw(lfw_cache_dir):
    if LFW_DIR is None:
        pytest.skip("LFW not found at ../shared/data/lfw (set COURSE_TEST_LFW_DIR)")
    old = os.environ.get("COURSE_DATA_DIR")
    os.environ["COURSE_DATA_DIR"] = str(lfw_cache_dir)
    try:
        t0 = time.time()
        faces = datasets.load_lfw(LFW_DIR, verbose=False)
        cold = time.time() - t0
        t0 = time.time()
        again = datasets.load_lfw(LFW_DIR, verbose=False)
        warm = time.time() - t0
    finally:
        if old is None:
            del os.environ["COURSE_DATA_DIR"]
        else:
            os.environ["COURSE_DATA_DIR"] = old
    print(f"LFW load: cold {cold:.1f} s, cached {warm:.1f} s")
    return faces, again, lfw_cache_dir


@needs_lfw
def test_lfw_loads_completely_and_cache_is_identical(lfw):
    faces, again, _ = lfw
    assert len(faces) == 13233 and faces.n_identities == 5749
    assert faces.images.shape[1:] == (64, 64, 3) and faces.images.dtype == np.uint8
    np.testing.assert_array_equal(faces.images, again.images)
    assert faces.paths == again.paths
    k = faces.paths.index("George_W_Bush/George_W_Bush_0001.jpg")
    assert faces.names[faces.labels[k]] == "George_W_Bush" and faces.counts()[faces.labels[k]] == 530


@needs_lfw
def test_lfw_image_matches_preprocessing_a_file_by_hand(lfw):
    from course_utils import images as imgs
    faces, _, _ = lfw
    k = 1234
    ref = imgs.preprocess(imgs.read_image(LFW_DIR / faces.paths[k]), size=64, crop=imgs.LFW_CROP)
    np.testing.assert_array_equal(faces.images[k], ref)


@needs_lfw
def test_lfw_view1_is_identity_disjoint_and_official(lfw, monkeypatch):
    faces, _, cache_dir = lfw
    monkeypatch.setenv("COURSE_DATA_DIR", str(cache_dir))
    bench = datasets.lfw_view1(LFW_DIR, verbose=False)
    assert len(bench.test) == 1000 and bench.test.same.sum() == 500
    for k in range(10):
        assert bench.test.same[bench.test.fold == k].sum() == 50 and (bench.test.fold == k).sum() == 100
    test_people = set(bench.test.faces.names)
    assert not test_people & set(bench.train.names)
    assert not set(bench.val.faces.names) & set(bench.train.names)
    # spot-check pairs against pairsDevTest.txt read independently
    lines = (LFW_DIR / "pairsDevTest.txt").read_text().split("\n")[1:]
    first = lines[0].split()
    a, b = bench.test.image_pair(0)
    path_a = f"{first[0]}/{first[0]}_{int(first[1]):04d}.jpg"
    np.testing.assert_array_equal(a, faces.images[faces.paths.index(path_a)])
    # every same-pair label agrees with the names
    tf = bench.test.faces
    np.testing.assert_array_equal(tf.labels[bench.test.i] == tf.labels[bench.test.j], bench.test.same)


@needs_lfw
def test_lfw_ten_folds(lfw):
    faces, _, _ = lfw
    pairs = datasets.lfw_pairs(faces, LFW_DIR, "pairs.txt")
    assert len(pairs) == 6000 and np.bincount(pairs.fold).tolist() == [600] * 10
    assert all(pairs.same[pairs.fold == f].sum() == 300 for f in range(10))


# ---------------------------------------------------------------- AT&T (real data)
@needs_att
def test_att_folder():
    faces = datasets.load_att(ATT_DIR, size=48)
    assert faces.images.shape == (400, 48, 48, 3) and faces.n_identities == 40
    assert faces.names[:3] == ["s1", "s2", "s3"] and faces.counts().tolist() == [10] * 40
    assert faces.source == "att"


def test_att_missing_offline_is_clear(monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="COURSE_ATT_DIR"):
        datasets.load_att()


# ---------------------------------------------------------------- own photos: robustness and alignment
def test_folder_nested_no_extension_and_skip_report(tmp_path):
    write_image(tmp_path / "Ann" / "a.jpg", fmt="JPEG")
    write_image(tmp_path / "Ann" / "2023" / "holiday" / "b.png", fmt="PNG", seed=1)   # nested
    write_image(tmp_path / "Ann" / "IMG_0003", fmt="JPEG", seed=2)                   # no ending
    write_image(tmp_path / "Ben" / "c.dat", fmt="PNG", seed=3)                       # unknown ending
    (tmp_path / "Ben" / "readme.md").write_text("not a photo")
    (tmp_path / "Ben" / ".hidden").write_bytes(b"x")
    write_image(tmp_path / "Ben" / "d.pgm.bad", fmt="PNG", seed=4)                   # a dataset's "broken" mark
    write_image(tmp_path / "Ben" / "e.jpg~", fmt="JPEG", seed=5)                     # an editor's backup
    with pytest.warns(UserWarning) as caught:
        faces = datasets.load_folder(tmp_path, size=16)
    assert faces.names == ["Ann", "Ben"] and list(faces.counts()) == [3, 1]
    message = str(caught[0].message)
    assert message.splitlines()[0].endswith("skipped 4 items:"), message
    assert f"1 hidden file: {tmp_path / 'Ben' / '.hidden'}" in message
    assert f"1 not an image: {tmp_path / 'Ben' / 'readme.md'}" in message
    assert "2 files marked bad or temporary by their names: " in message
    assert "d.pgm.bad" in message and "e.jpg~" in message


def test_the_skip_report_lists_every_file_up_to_ten_per_reason():
    many = [f"p{i}.jpg" for i in range(13)]
    report = datasets.skip_report("load_folder(x)", {"photo with no face found": many,
                                                     "person with fewer than 2 images": ["Ann", "Ben"]},
                                  ["the face in q.jpg is small (30 px < 40 px)"])
    lines = report.splitlines()
    assert lines[0] == "load_folder(x) skipped 15 items:"
    assert lines[1] == "  - 13 photos with no face found: " + ", ".join(many[:10]) + ", and 3 more"
    assert lines[2] == "  - 2 people with fewer than 2 images: Ann, Ben"
    assert lines[3:] == ["  1 face kept with a note:", "  - the face in q.jpg is small (30 px < 40 px)"]


def test_folder_of_train_and_val_gets_a_hint(tmp_path):
    write_image(tmp_path / "train" / "Ann" / "a.png", fmt="PNG")
    write_image(tmp_path / "val" / "Ben" / "b.png", fmt="PNG")
    with pytest.raises(ValueError, match=r"already split.*load_faces\(.*train"):
        datasets.load_folder(tmp_path)


def test_folder_bomb_names_the_file(tmp_path, monkeypatch):
    from PIL import Image
    write_image(tmp_path / "Ann" / "ok.png", fmt="PNG")
    write_image(tmp_path / "Ann" / "huge.png", size=(400, 300), fmt="PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)
    with pytest.raises(ValueError, match="huge.png"):
        datasets.load_folder(tmp_path)


def test_own_photos_are_aligned_and_faceless_ones_skipped(tmp_path, monkeypatch):
    """load_faces(folder) finds and aligns faces; a photo without a face is reported, not silently dropped."""
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image
    photo = skimage_data.astronaut()                       # public-domain NASA portrait in the wheel
    (tmp_path / "Eileen").mkdir()
    Image.fromarray(photo).save(tmp_path / "Eileen" / "portrait.jpg", quality=90)
    Image.fromarray(np.ascontiguousarray(photo[:, ::-1])).save(tmp_path / "Eileen" / "mirrored.png")
    Image.fromarray(np.full((200, 200, 3), 120, np.uint8)).save(tmp_path / "Eileen" / "wall.png")
    small = Image.fromarray(photo).resize((96, 96))         # her face is then under MIN_FACE_PIXELS
    small.save(tmp_path / "Eileen" / "thumbnail.png")
    with pytest.warns(UserWarning, match=r"1 photo with no face found: .*wall.png") as caught:
        faces = datasets.load_faces(str(tmp_path), verbose=False)
    assert "1 face kept with a note:\n  - the face in " + str(tmp_path / "Eileen" / "thumbnail.png") + " is small" \
        in str(caught[0].message), str(caught[0].message)
    assert faces.images.shape == (3, 64, 64, 3) and faces.names == ["Eileen"]
    plain = datasets.load_faces(str(tmp_path), align=False, verbose=False)
    assert len(plain) == 4
    # Aligned: the two photos (one mirrored) give nearly mirror-image faces; centre crops do not.
    a, b = faces.images[:2].astype(int)          # mirrored.png, portrait.jpg (files in name order)
    assert np.abs(a - b[:, ::-1]).mean() < 20
    # Cached: the second call does not run the detector again.
    from course_utils import align
    monkeypatch.setattr(align, "_run_detector", lambda image: pytest.fail("detector ran again"))
    again = datasets.load_faces(str(tmp_path), verbose=False)
    np.testing.assert_array_equal(again.images, faces.images)
