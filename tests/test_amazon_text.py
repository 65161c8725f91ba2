"""Amazon reviews from the raw sorted_data_acl text: parsing, TF-IDF, MiniLM embeddings and their cache."""
import hashlib
import io
import tarfile

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from dabench.data import amazon_reviews
from dabench.data.base import DATASETS
from dabench.errors import DabenchError

pytestmark = pytest.mark.data


@pytest.fixture
def shipped_embeddings(data_root):
    """The MiniLM embeddings shipped with the data (title + ". " + body, all-MiniLM-L6-v2)."""
    z = np.load(data_root / "amazon_reviews_mds" / "minilm_l6_v2_embeddings.npz")
    return {d: z["X"][z["domain"] == d] for d in ("books", "dvd", "electronics", "kitchen")}


def test_texts_counts_and_labels(data_root):
    texts, labels = DATASETS.build("amazon_reviews", root=data_root).texts("kitchen")
    assert len(texts) == 2000 and labels.tolist() == [1] * 1000 + [0] * 1000
    assert all(". " in t for t in texts)


def test_minilm_embeddings_equal_the_shipped_ones_and_are_cached_by_text(data_root, shipped_embeddings, tmp_path,
                                                                          monkeypatch):
    texts, _ = DATASETS.build("amazon_reviews", root=data_root).texts("books")
    chosen = [0, 1, 2, 1000, 1001, 1999]
    vectors = amazon_reviews.embed_cached([texts[i] for i in chosen], tmp_path)
    cosine = (vectors * shipped_embeddings["books"][chosen]).sum(axis=1)
    assert np.allclose(cosine, 1.0, atol=1e-4)
    assert len(list(tmp_path.glob("*.npy"))) == 6
    monkeypatch.setattr(amazon_reviews, "minilm", lambda: pytest.fail("the cache was not used"))
    again = amazon_reviews.embed_cached([texts[i] for i in reversed(chosen)], tmp_path)
    assert np.array_equal(again, vectors[::-1])


def test_minilm_features_transfer_as_published(data_root, shipped_embeddings, tmp_path, monkeypatch):
    """Books -> electronics with logistic regression on MiniLM features: 72.5% (shared data README)."""
    dataset = DATASETS.build({"name": "amazon_reviews", "features": "minilm"}, root=data_root)
    cache = tmp_path / "cache"
    cache.mkdir()
    for domain in ("books", "electronics"):  # fill the cache from the shipped embeddings (no 4,000 encodes)
        for text, vector in zip(dataset.texts(domain)[0], shipped_embeddings[domain]):
            np.save(cache / f"{hashlib.sha256(text.encode()).hexdigest()}.npy", vector)
    monkeypatch.setattr(amazon_reviews, "minilm", lambda: pytest.fail("every text should be cached"))
    real_embed = amazon_reviews.embed_cached
    monkeypatch.setattr(amazon_reviews, "embed_cached", lambda texts, _: real_embed(texts, cache))
    x_s, y_s = dataset.load("books", "train").tensors
    x_t, y_t = dataset.load("electronics", "test").tensors
    assert x_s.shape == (2000, 384) and dataset.input_shape == (384,)
    accuracy = LogisticRegression(max_iter=1000).fit(x_s.numpy(), y_s.numpy()).score(x_t.numpy(), y_t.numpy())
    assert accuracy * 100 == pytest.approx(72.5, abs=1.0)


def test_tfidf_features_carry_sentiment_across_domains(data_root):
    dataset = DATASETS.build({"name": "amazon_reviews", "features": "tfidf", "max_features": 2000}, root=data_root)
    x_s, y_s = dataset.load("books", "train").tensors
    x_t, y_t = dataset.load("kitchen", "test").tensors
    assert x_s.shape == (2000, 2000) and dataset.input_shape == (2000,)
    assert torch.allclose(x_s.norm(dim=1), torch.ones(2000), atol=1e-5)  # TF-IDF rows are L2-normalised
    accuracy = LogisticRegression(max_iter=1000).fit(x_s.numpy(), y_s.numpy()).score(x_t.numpy(), y_t.numpy())
    assert accuracy > 0.68


def test_download_extracts_the_release_tarball(data_root, server, tmp_path, monkeypatch):
    served, url = server
    with tarfile.open(served / amazon_reviews.ARCHIVE, "w:gz") as tar:
        for relpath in DATASETS.get("amazon_reviews").files:
            tar.add(data_root / relpath, "sorted_data_acl/" + relpath.split("/", 1)[1])
    monkeypatch.setattr(amazon_reviews, "MIRRORS", ("http://127.0.0.1:9/dead.tar.gz", url + amazon_reviews.ARCHIVE))
    dataset = DATASETS.build("amazon_reviews", root=tmp_path)
    assert len(dataset.download(progress=False)) == 8
    assert dataset.verify() == [] and len(dataset.texts("dvd")[0]) == 2000
    assert dataset.download(progress=False) == []


def test_a_tarball_without_the_review_files_is_reported(server, tmp_path, monkeypatch):
    served, url = server
    with tarfile.open(served / amazon_reviews.ARCHIVE, "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("other/file"), io.BytesIO(b""))
    monkeypatch.setattr(amazon_reviews, "MIRRORS", (url + amazon_reviews.ARCHIVE,))
    with pytest.raises(DabenchError, match=r"is corrupt or not the sorted_data_acl release"):
        DATASETS.build("amazon_reviews", root=tmp_path).download(progress=False)
