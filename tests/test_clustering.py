"""Tests for course_utils.clustering."""
import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components
from sklearn.metrics import adjusted_rand_score

from course_utils.clustering import cluster_embeddings, cluster_sizes


def unit_rows(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def separated_clusters(n_people=5, per_person=8, dim=16, noise=0.05, seed=0):
    """People far apart (distinct axes), photos of one person close together."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:n_people]                       # pairwise squared distance 2
    labels = np.repeat(np.arange(n_people), per_person)
    order = rng.permutation(len(labels))
    labels = labels[order]
    return unit_rows(centres[labels] + noise * rng.normal(size=(len(labels), dim))), labels


def pairwise_sq(x):
    return ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)


@pytest.mark.parametrize("linkage", ["average", "complete", "single"])
def test_separated_clusters_are_recovered_exactly(linkage):
    x, labels = separated_clusters()
    d = pairwise_sq(x)
    same = labels[:, None] == labels[None, :]
    assert d[same].max() < 0.5 < 1.5 < d[~same].min()      # the example really is well separated
    found = cluster_embeddings(x, threshold=1.0, linkage=linkage)
    assert adjusted_rand_score(labels, found) == 1.0
    assert found.dtype == np.int64 and found.shape == labels.shape


def test_dbscan_recovers_separated_clusters():
    x, labels = separated_clusters()
    assert adjusted_rand_score(labels, cluster_embeddings(x, 1.0, method="dbscan")) == 1.0


def test_labels_are_numbered_by_first_appearance():
    x, _ = separated_clusters()
    found = cluster_embeddings(x, 1.0)
    _, first = np.unique(found, return_index=True)
    assert np.array_equal(found[np.sort(first)], np.arange(found.max() + 1))


@pytest.mark.parametrize("linkage", ["average", "complete", "single"])
def test_larger_threshold_never_gives_more_clusters(linkage):
    rng = np.random.default_rng(1)
    x = unit_rows(rng.normal(size=(60, 8)))
    counts = [len(np.unique(cluster_embeddings(x, t, linkage=linkage))) for t in np.linspace(0.1, 4.0, 14)]
    assert all(a >= b for a, b in zip(counts, counts[1:]))
    assert counts[0] > 30 and counts[-1] == 1             # 4.0 is the largest squared distance possible


def test_single_linkage_is_connected_components_of_the_threshold_graph():
    rng = np.random.default_rng(2)
    x = unit_rows(rng.normal(size=(50, 6)))
    for threshold in (0.3, 0.6, 1.0):
        n, reference = connected_components(pairwise_sq(x) <= threshold, directed=False)
        found = cluster_embeddings(x, threshold, linkage="single")
        assert len(np.unique(found)) == n
        assert adjusted_rand_score(reference, found) == 1.0


def test_complete_linkage_keeps_every_pair_within_threshold():
    rng = np.random.default_rng(3)
    x = unit_rows(rng.normal(size=(50, 6)))
    found = cluster_embeddings(x, 1.2, linkage="complete")
    d = pairwise_sq(x)
    for cluster in np.unique(found):
        members = found == cluster
        assert d[np.ix_(members, members)].max() <= 1.2 + 1e-9


def test_threshold_is_inclusive_like_verification():
    x = np.eye(3)[:2]                                      # squared distance exactly 2.0
    assert cluster_embeddings(x, 2.0).tolist() == [0, 0]   # distance <= threshold joins
    assert cluster_embeddings(x, 1.999).tolist() == [0, 1]
    assert cluster_embeddings(x, 2.0, method="dbscan").tolist() == [0, 0]


def test_dbscan_noise_becomes_singletons():
    x, labels = separated_clusters(n_people=3, per_person=6, dim=10)
    outliers = np.eye(10)[5:8]                             # three lone faces, far from everyone
    x = np.concatenate([x, outliers])
    found = cluster_embeddings(x, 1.0, method="dbscan", min_samples=3)
    assert found.min() >= 0                                # no −1 left
    assert adjusted_rand_score(labels, found[:-3]) == 1.0
    assert len(set(found[-3:].tolist())) == 3              # each outlier alone …
    assert not set(found[-3:].tolist()) & set(found[:-3].tolist())   # … and not in a real cluster
    assert len(np.unique(found)) == 6 and found.max() == 5


def test_single_face_and_sizes():
    assert cluster_embeddings(np.array([[1.0, 0.0]]), 1.0).tolist() == [0]
    assert cluster_embeddings(np.array([[1.0, 0.0]]), 1.0, method="dbscan").tolist() == [0]
    assert cluster_sizes([2, 0, 2, 1, 1, 2, 3]) == [(2, 3), (1, 2), (0, 1), (3, 1)]
    assert cluster_sizes(np.array(["b", "a", "b"])) == [("b", 2), ("a", 1)]
    assert all(type(c) is int and type(s) is int for c, s in cluster_sizes(np.array([4, 4, 5])))


def test_errors():
    x, _ = separated_clusters()
    with pytest.raises(ValueError, match="ward"):
        cluster_embeddings(x, 1.0, linkage="ward")
    with pytest.raises(ValueError, match="linkage must be one of"):
        cluster_embeddings(x, 1.0, linkage="centroid")
    with pytest.raises(ValueError, match="method must be one of"):
        cluster_embeddings(x, 1.0, method="kmeans")
    with pytest.raises(ValueError, match="positive squared distance"):
        cluster_embeddings(x, 0.0)
    with pytest.raises(ValueError, match="positive squared distance"):
        cluster_embeddings(x, np.nan)
    with pytest.raises(ValueError, match="min_samples"):
        cluster_embeddings(x, 1.0, method="dbscan", min_samples=0)
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        cluster_embeddings(np.zeros((2, 2, 2)), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        cluster_embeddings(np.array([[1.0, np.nan], [0.0, 1.0]]), 1.0)
    with pytest.raises(ValueError, match="1-D"):
        cluster_sizes(np.zeros((2, 2)))
