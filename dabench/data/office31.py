"""Office-31 (Saenko et al., ECCV 2010): 4,110 images of 31 office objects in three domains:
amazon (product photos, 2,817), dslr (498) and webcam (795).

The original archive ``domain_adaptation_images.tar.gz`` extracts to
``<domain>/images/<class>/*.jpg``; labels follow the sorted class names (ImageFolder order).
"""
from dabench.data.archives import Archive
from dabench.data.base import DATASETS
from dabench.data.download import google_drive
from dabench.data.image_lists import ImageListDataset

CLASSES = ("back_pack", "bike", "bike_helmet", "bookcase", "bottle", "calculator", "desk_chair", "desk_lamp",
           "desktop_computer", "file_cabinet", "headphones", "keyboard", "laptop_computer", "letter_tray",
           "mobile_phone", "monitor", "mouse", "mug", "paper_notebook", "pen", "phone", "printer", "projector",
           "punchers", "ring_binder", "ruler", "scissors", "speaker", "stapler", "tape_dispenser", "trash_can")


@DATASETS.register("office31")
class Office31(ImageListDataset):
    domains = ("amazon", "dslr", "webcam")
    folder = "office31"
    class_names = CLASSES
    # The original host (UMass Lowell), then the authors' Google Drive copy. The md5 is the one
    # DeepMind's dm_nevis and gdown-based loaders check the Drive copy against.
    archives = (Archive("domain_adaptation_images.tar.gz",
                        ("http://www.cs.uml.edu/~saenko/data/domain_adaptation_images.tar.gz",
                         google_drive("0B4IapRTv9pJ1WGZVd1VDMmhwdlE")),
                        "md5:1b536d114869a5a8aa4580b89e9758fb"),)
    class_folders = {d: f"{d}/images" for d in domains}
    counts = {"amazon": 2817, "dslr": 498, "webcam": 795}
    licence = "research use; no licence stated by the authors"
    citation = "Saenko, Kulis, Fritz, Darrell. Adapting Visual Category Models to New Domains. ECCV 2010"
    manual = ("Google Drive may ask to confirm large downloads: open "
              "https://drive.google.com/file/d/0B4IapRTv9pJ1WGZVd1VDMmhwdlE in a browser, save "
              "domain_adaptation_images.tar.gz")
