"""ImageCLEF-DA (the ImageCLEF 2014 domain adaptation challenge, used by Long et al.'s JAN):
12 classes shared by Caltech-256 (c), ImageNet ILSVRC 2012 (i), Pascal VOC 2012 (p) and
Bing (b); 50 images per class, 600 per domain.

Distributed as ``image_CLEF.zip`` (``image_CLEF/<domain>/*.jpg`` and
``image_CLEF/list/<domain>List.txt`` with ``<domain>/<file> <label>`` lines). No mirror with
a stable URL is known: get the zip from the link in the JAN repository and import it.
"""
from dabench.data.archives import Archive
from dabench.data.base import DATASETS
from dabench.data.image_lists import ImageListDataset


@DATASETS.register("image_clef")
class ImageCLEF(ImageListDataset):
    domains = ("b", "c", "i", "p")
    folder = "image_clef"
    class_names = ("aeroplane", "bike", "bird", "boat", "bottle", "bus", "car", "dog", "horse", "monitor",
                   "motorbike", "people")
    archives = (Archive("image_CLEF.zip", ()),)
    image_lists = {d: f"image_CLEF/list/{d}List.txt" for d in domains}
    list_root = "image_CLEF"
    counts = {d: 600 for d in domains}
    licence = "research use; images from Caltech-256, ImageNet, Pascal VOC and Bing under their own terms"
    citation = ("Long, Zhu, Wang, Jordan. Deep Transfer Learning with Joint Adaptation Networks. ICML 2017 "
                "(data from the ImageCLEF 2014 domain adaptation challenge)")
    manual = "the zip is linked from https://github.com/thuml/JAN; download it, then import it"
