"""ImageNet-C (Hendrycks & Dietterich, ICLR 2019, arXiv:1903.12261) as released on Zenodo (record 2235448).

Five tars, md5s as published: ``noise.tar`` (gaussian, shot and impulse noise), ``blur.tar`` (defocus, glass,
motion, zoom), ``weather.tar`` (snow, frost, fog, brightness), ``digital.tar`` (contrast, elastic, pixelate, JPEG)
and ``extra.tar`` (the held-out speckle noise, spatter, Gaussian blur, saturate). Each extracts to
``<corruption>/<severity>/<wnid>/ILSVRC2012_val_*.JPEG``: ImageNet's 50,000 validation images, 224 x 224, corrupted.

Domains are ``<corruption>-<severity>``, the 15 benchmark corruptions in the standard order then the 4 extras,
severities 1-5, each a test split only: a stream (``dabench stream``, ``setting: stream``). There is no clean domain
to train on: the source model is an ImageNet classifier that ships its head, ``source: none`` in a stream config
(``model.backbone: {name: resnet50, weights: IMAGENET1K_V1}``, ``bottleneck_dim: 0``). Labels are the wnids in sorted
order, which is torchvision's ImageNet class order, so the pretrained head's outputs are the labels' indices.
The test view is torchvision's (resize to 256, centre crop 224; ``resize_size: 224`` keeps the released pixels).
"""
from __future__ import annotations

from dabench.data.archives import Archive
from dabench.data.base import DATASETS
from dabench.data.common_corruptions import CITATION, EXTRA
from dabench.data.corrupted import CORRUPTIONS, SEVERITIES, check_corrupted_domain
from dabench.data.files import scan_class_folders
from dabench.data.image_lists import ImageListDataset
from dabench.errors import DabenchError

# Each tar of the release: the corruptions it holds and its md5 as Zenodo publishes it.
TARS = {"noise": (("gaussian_noise", "shot_noise", "impulse_noise"), "e80562d7f6c3f8834afb1ecf27252745"),
        "blur": (("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"), "2d8e81fdd8e07fef67b9334fa635e45c"),
        "weather": (("snow", "frost", "fog", "brightness"), "33ffea4db4d93fe4a428c40a6ce0c25d"),
        "digital": (("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
                    "89157860d7b10d5797849337ca2e5c03"),
        "extra": (("speckle_noise", "spatter", "gaussian_blur", "saturate"), "d492dfba5fc162d8ec2c3cd8ee672984")}
IMAGES_PER_DOMAIN = 50_000  # ImageNet's validation set, 50 per class


def _domains(corruptions) -> tuple[str, ...]:
    return tuple(f"{c}-{s}" for c in corruptions for s in SEVERITIES)


@DATASETS.register("imagenet_c")
class ImageNetC(ImageListDataset):
    domains = _domains((*CORRUPTIONS, *EXTRA))
    num_classes = 1000
    folder = "imagenet_c"
    archives = tuple(Archive(f"{tar}.tar", (f"https://zenodo.org/records/2235448/files/{tar}.tar",), f"md5:{md5}",
                             _domains(corruptions)) for tar, (corruptions, md5) in TARS.items())
    counts = {domain: IMAGES_PER_DOMAIN for domain in domains}
    transductive = True  # one list per domain; load() refuses the train split
    protocol = ("<corruption>-<severity>: ImageNet's validation images as published corrupted, a test split only "
                "(streams); the source model is a pretrained ImageNet classifier (source: none)")
    citation = f"{CITATION}; Russakovsky et al., IJCV 2015 (ImageNet)"
    licence = "ImageNet-C: CC BY 4.0 (Zenodo); the images: ImageNet's terms (non-commercial research)"

    def __init__(self, root=None, image_size: int = 224, resize_size: int = 256, normalization: str = "imagenet",
                 decode: str = "auto", workers: int = 4):
        super().__init__(root, image_size=image_size, resize_size=resize_size, train_resizing="ran.crop", flip=False,
                         normalization=normalization, decode=decode, workers=workers)

    def check_domain(self, domain):
        check_corrupted_domain(self, domain, (*CORRUPTIONS, *EXTRA))

    def samples(self, key):
        """The images of domain `key`, labelled by the position of their wnid folder in sorted order."""
        corruption, severity = key.rsplit("-", 1)
        folder = self.directory / corruption / severity
        wnids = tuple(sorted(p.name for p in folder.iterdir() if p.is_dir())) if folder.is_dir() else ()
        if len(wnids) != self.num_classes:
            raise DabenchError(f"imagenet_c: {folder} holds {len(wnids)} class folders, not ImageNet's "
                               f"{self.num_classes} (labels are their sorted order); the extraction is incomplete: "
                               f"delete {self.directory} and run `dabench data download imagenet_c` again")
        return scan_class_folders(folder, wnids)

    def load(self, domain, split):
        if split != "test" and not self.missing_files(domain):  # a missing domain: the download hint comes first
            self.check_domain(domain)
            raise DabenchError(f"imagenet_c: the corrupted domain {domain} has a test split only; it is a stream, "
                               f"whose source model is a pretrained ImageNet classifier (source: none)")
        return super().load(domain, "test")
