"""Office-Caltech10 with 800-bin SURF bag-of-words features (the GFK release).

Gong et al., CVPR 2012 (features and protocol); Saenko et al., ECCV 2010 (Office);
Griffin et al. 2007 (Caltech-256). 10 shared classes; amazon 958, caltech 1,123,
dslr 157, webcam 295 samples.

Preprocessing is the GFK README's: divide each row by its sum, then z-score every
feature with the population std, per domain (MATLAB ``zscore(fts, 1)``; a constant
feature becomes 0). Protocol: transductive, as in the papers: a domain's train and
test splits are the same samples (the target is trained on without its labels).
"""
from __future__ import annotations

import numpy as np

from dabench.data.base import DATASETS, MatFeatures

MIRRORS = ("https://github.com/jindongwang/transferlearning/raw/master/data/office_caltech10_surf/",)


def gfk_preprocess(features: np.ndarray) -> np.ndarray:
    """(n, 800) SURF histograms -> row-normalised, then per-feature z-scored (population std)."""
    features = features / features.sum(axis=1, keepdims=True)
    std = features.std(axis=0)
    std[std == 0] = 1.0
    return (features - features.mean(axis=0)) / std


@DATASETS.register("office_caltech10_surf")
class OfficeCaltech10SURF(MatFeatures):
    modality = "features"
    domains = ("amazon", "caltech", "dslr", "webcam")
    num_classes = 10
    citation = "Gong, Shi, Sha, Grauman. Geodesic Flow Kernel. CVPR 2012; Saenko et al. ECCV 2010"
    licence = "research use; no licence stated"
    input_shape = (800,)
    folder, file_suffix, label_offset = "office_caltech10_surf", "_SURF_L10.mat", 1
    file_names = {"amazon": "amazon", "caltech": "Caltech10", "dslr": "dslr", "webcam": "webcam"}
    files = {
        "office_caltech10_surf/amazon_SURF_L10.mat": "df32548b994e18d364c99e1f317e1fae100597259f0423a41b90f4f68187bb1f",
        "office_caltech10_surf/Caltech10_SURF_L10.mat": "4f9334c8ced489d5054de97a5fd51a61f017f3bcd1f38c9a85c6d78cb9d7bda5",
        "office_caltech10_surf/dslr_SURF_L10.mat": "44d673c68e1d07b837893aa74dba3b986e4a6cc3fd66f0dd357683bdef059216",
        "office_caltech10_surf/webcam_SURF_L10.mat": "a6a9c78b4b7181dfbb58bcfd351d4ebd737f171c31247b8884948aa156d3f700",
    }
    urls = {path: [m + path.split("/")[-1] for m in MIRRORS] for path in files}

    def preprocess(self, features):
        return gfk_preprocess(features)
