"""Amazon reviews (Blitzer et al., ACL 2007), 400 binary bag-of-words features per review.

The mSDA release (Chen et al., ICML 2012): books 2,000, dvd 1,999, electronics 1,998,
kitchen 1,999 reviews; positive/negative sentiment. Protocol: transductive (a domain's
train and test splits are the same reviews; target labels are hidden in training).
"""
from __future__ import annotations

from dabench.data.base import DATASETS, MatFeatures

MIRRORS = ("https://github.com/jindongwang/transferlearning/raw/master/data/amazon_review_400/",)


@DATASETS.register("amazon_review_400")
class AmazonReview400(MatFeatures):
    modality = "text"
    domains = ("books", "dvd", "electronics", "kitchen")
    num_classes = 2
    citation = "Blitzer et al. ACL 2007; features: Chen, Xu, Weinberger, Sha. mSDA. ICML 2012"
    licence = "research use; no licence stated"
    input_shape = (400,)
    folder, file_suffix = "amazon_review_400", "_400.mat"
    file_names = {"books": "books", "dvd": "dvd", "electronics": "elec", "kitchen": "kitchen"}
    files = {
        "amazon_review_400/books_400.mat": "7a53b54f0c0e81e7ee4774d762a927399cede9a802a2409732ba00cc1c23a17a",
        "amazon_review_400/dvd_400.mat": "13a71d399f9c7ae57064952979c830455057ffd0a8da73f2c9075338d64d98ce",
        "amazon_review_400/elec_400.mat": "f1dd6e01c1eed956d3abe6493a6bb5efc95e6585b8b9b2d856c0c07e12893a35",
        "amazon_review_400/kitchen_400.mat": "b1f4e5ddfbd7b37ad2638fccbf83bd8558abf63b3e8d69a9d5bca77b1a49fed5",
    }
    urls = {path: [m + path.split("/")[-1] for m in MIRRORS] for path in files}
