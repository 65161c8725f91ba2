"""Office-Caltech10 images (Gong et al., CVPR 2012): the 10 classes that Office-31 shares with
Caltech-256, in four domains: amazon (958), caltech (1,123), dslr (157), webcam (295).
The SURF features of the same images are the ``office_caltech10_surf`` dataset.

The archive ``officecaltech.tgz`` (TLlib's copy) extracts to ``<domain>/<class>/*.jpg``.
"""
from dabench.data.archives import Archive
from dabench.data.base import DATASETS
from dabench.data.image_lists import ImageListDataset


@DATASETS.register("office_caltech10")
class OfficeCaltech10(ImageListDataset):
    domains = ("amazon", "caltech", "dslr", "webcam")
    folder = "office_caltech10"
    class_names = ("back_pack", "bike", "calculator", "headphones", "keyboard", "laptop_computer", "monitor",
                   "mouse", "mug", "projector")
    archives = (Archive("officecaltech.tgz", ("https://cloud.tsinghua.edu.cn/f/e93f2e07d93243d6b57e/?dl=1",)),)
    class_folders = {d: d for d in domains}
    counts = {"amazon": 958, "caltech": 1123, "dslr": 157, "webcam": 295}
    licence = "research use; Office-31 and Caltech-256 images under their authors' terms"
    citation = ("Gong, Shi, Sha, Grauman. Geodesic Flow Kernel for Unsupervised Domain Adaptation. CVPR 2012; "
                "Saenko et al. ECCV 2010; Griffin, Holub, Perona. Caltech-256. 2007")
