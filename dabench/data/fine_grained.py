"""The fine-grained task-adaptation benchmarks of TLlib and of the fine-tuning papers (L2-SP, DELTA,
BSS, Co-Tuning, StochNorm, Bi-Tuning), each one domain with its official train/test split:

- ``cub200``: CUB-200-2011 (Wah et al., Caltech tech. report CNS-TR-2011-001), 200 bird species,
  5,994 train / 5,794 test images; ``CUB_200_2011.tgz`` with ``images.txt``, ``image_class_labels.txt``
  and ``train_test_split.txt``; md5 as published with the CaltechDATA record (and torchvision-era loaders).
- ``stanford_cars``: Stanford Cars (Krause et al., 3dRR-13), 196 models, 8,144 train / 8,041 test;
  ``cars_train.tgz``, ``cars_test.tgz``, ``car_devkit.tgz`` (``devkit/cars_train_annos.mat``) and
  ``cars_test_annos_withlabels.mat``, with the md5s torchvision checked. The original host is gone:
  obtain the four files from a mirror and ``dabench data import stanford_cars PATH``.
- ``fgvc_aircraft``: FGVC-Aircraft 2013b (Maji et al., arXiv:1306.5151), 100 variants, trainval 6,667 /
  test 3,333 (trainval is the train split, as in TLlib); ``fgvc-aircraft-2013b.tar.gz``; the authors publish
  no checksum, so the sha256 of the first copy that passes the counts is recorded and held to.

Task adaptation reads them as ``--source none --target <domain>`` with ``target_label_fraction`` 0.15, 0.3,
0.5 or 1.0 (TLlib's sample rates), at ImageNet's 224 x 224 by default.
"""
from __future__ import annotations

from dabench.data.archives import Archive
from dabench.data.base import DATASETS
from dabench.data.image_lists import ImageListDataset


def _read_pairs(path) -> list[tuple[str, str]]:
    """Lines "<first token> <rest>" of a text file, blank lines skipped."""
    return [tuple(line.split(" ", 1)) for line in path.read_text().splitlines() if line.strip()]


class FineGrained(ImageListDataset):
    transductive = False
    protocol = "official train/test split"
    licence = "research and non-commercial use (see the authors' page)"

    def key(self, domain, split):
        return f"{domain}/{split}"


@DATASETS.register("cub200")
class CUB200(FineGrained):
    domains = ("birds",)
    folder = "cub200"
    num_classes = 200
    archives = (Archive("CUB_200_2011.tgz", ("https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz",),
                        "md5:97eceeb196236b17998738112f37df78"),)
    counts = {"birds/train": 5994, "birds/test": 5794}
    citation = "Wah, Branson, Welinder, Perona, Belongie. The Caltech-UCSD Birds-200-2011 Dataset. CNS-TR-2011-001"

    def samples(self, key):
        base = self.directory / "CUB_200_2011"
        paths = dict(_read_pairs(base / "images.txt"))
        labels = {i: int(c) - 1 for i, c in _read_pairs(base / "image_class_labels.txt")}
        wanted = "1" if key.endswith("/train") else "0"
        ids = [i for i, is_train in _read_pairs(base / "train_test_split.txt") if is_train.strip() == wanted]
        return [str(base / "images" / paths[i]) for i in ids], [labels[i] for i in ids]


@DATASETS.register("stanford_cars")
class StanfordCars(FineGrained):
    domains = ("cars",)
    folder = "stanford_cars"
    num_classes = 196
    archives = (
        Archive("car_devkit.tgz", ("https://ai.stanford.edu/~jkrause/cars/car_devkit.tgz",),
                "md5:c3b158d763b6e2245038c8ad08e45376"),
        Archive("cars_train.tgz", ("https://ai.stanford.edu/~jkrause/car196/cars_train.tgz",),
                "md5:065e5b463ae28d29e77c1b4b166cfe61"),
        Archive("cars_test.tgz", ("https://ai.stanford.edu/~jkrause/car196/cars_test.tgz",),
                "md5:4ce7ebf6a94d07f1952d94dd34c4d501"),
        Archive("cars_test_annos_withlabels.mat",
                ("https://ai.stanford.edu/~jkrause/car196/cars_test_annos_withlabels.mat",),
                "md5:b0a2b23655a3edd16d84508592a98d10"),
    )
    counts = {"cars/train": 8144, "cars/test": 8041}
    citation = "Krause, Stark, Deng, Fei-Fei. 3D Object Representations for Fine-Grained Categorization. 3dRR 2013"
    manual = ("the original host (ai.stanford.edu/~jkrause) no longer serves the files: download car_devkit.tgz, "
              "cars_train.tgz, cars_test.tgz and cars_test_annos_withlabels.mat from a mirror, then run "
              "`dabench data import stanford_cars FOLDER` (their md5s are checked)")

    def samples(self, key):
        from scipy.io import loadmat

        train = key.endswith("/train")
        annotations = loadmat(self.directory / ("devkit/cars_train_annos.mat" if train else
                                                "cars_test_annos_withlabels.mat"), squeeze_me=True)["annotations"]
        folder = self.directory / ("cars_train" if train else "cars_test")
        return ([str(folder / str(name)) for name in annotations["fname"]],
                [int(c) - 1 for c in annotations["class"]])


@DATASETS.register("fgvc_aircraft")
class FGVCAircraft(FineGrained):
    domains = ("aircraft",)
    folder = "fgvc_aircraft"
    num_classes = 100
    archives = (Archive("fgvc-aircraft-2013b.tar.gz",
                        ("https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz",)),)
    counts = {"aircraft/train": 6667, "aircraft/test": 3333}
    citation = "Maji, Rahtu, Kannala, Blaschko, Vedaldi. Fine-Grained Visual Classification of Aircraft. arXiv:1306.5151"

    def samples(self, key):
        data = self.directory / "fgvc-aircraft-2013b" / "data"
        variants = [line.strip() for line in (data / "variants.txt").read_text().splitlines() if line.strip()]
        split = "trainval" if key.endswith("/train") else "test"
        pairs = _read_pairs(data / f"images_variant_{split}.txt")
        return [str(data / "images" / f"{i}.jpg") for i, _ in pairs], [variants.index(v.strip()) for _, v in pairs]
