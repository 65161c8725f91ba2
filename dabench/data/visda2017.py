"""VisDA-2017 classification (Peng et al., 2017): 12 classes, synthetic renderings of 3D models
(the ``train`` set, 152,397 images) to real COCO crops (``validation``, 55,388).

Its metric is the mean of the per-class accuracies (``metric``), which results report as
target accuracy. The archives ``train.tar`` and ``validation.tar`` extract to
``train/<class>/*`` and ``validation/<class>/*``, each with an ``image_list.txt``.
"""
from dabench.data.archives import Archive
from dabench.data.base import DATASETS
from dabench.data.image_lists import ImageListDataset

HOST = "http://csr.bu.edu/ftp/visda17/clf/"


@DATASETS.register("visda2017")
class VisDA2017(ImageListDataset):
    domains = ("synthetic", "real")
    folder = "visda2017"
    class_names = ("aeroplane", "bicycle", "bus", "car", "horse", "knife", "motorcycle", "person", "plant",
                   "skateboard", "train", "truck")
    archives = (Archive("train.tar", (HOST + "train.tar",), domains=("synthetic",)),
                Archive("validation.tar", (HOST + "validation.tar",), domains=("real",)))
    image_lists = {"synthetic": "train/image_list.txt", "real": "validation/image_list.txt"}
    counts = {"synthetic": 152397, "real": 55388}
    metric = "mean_class_accuracy"
    protocol = ("transductive: train and test are the whole domain (target labels hidden in training); "
                "target accuracy is the mean of per-class accuracies")
    licence = "research use; images from ShapeNet renderings and MS COCO (COCO's terms apply to the real domain)"
    citation = "Peng, Usman, Kaushik, Hoffman, Wang, Saenko. VisDA: The Visual Domain Adaptation Challenge. 2017"
