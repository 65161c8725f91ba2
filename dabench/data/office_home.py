"""Office-Home (Venkateswara et al., CVPR 2017): 15,588 images of 65 everyday objects in four
domains: Art (2,427), Clipart (4,365), Product (4,439) and Real_World (4,357).

The archive ``OfficeHomeDataset_10072016.zip`` extracts to
``OfficeHomeDataset_10072016/<Art|Clipart|Product|Real World>/<class>/*.jpg``.
"""
from dabench.data.archives import Archive
from dabench.data.base import DATASETS
from dabench.data.download import google_drive
from dabench.data.image_lists import ImageListDataset

CLASSES = ("Alarm_Clock", "Backpack", "Batteries", "Bed", "Bike", "Bottle", "Bucket", "Calculator", "Calendar",
           "Candles", "Chair", "Clipboards", "Computer", "Couch", "Curtains", "Desk_Lamp", "Drill", "Eraser",
           "Exit_Sign", "Fan", "File_Cabinet", "Flipflops", "Flowers", "Folder", "Fork", "Glasses", "Hammer",
           "Helmet", "Kettle", "Keyboard", "Knives", "Lamp_Shade", "Laptop", "Marker", "Monitor", "Mop", "Mouse",
           "Mug", "Notebook", "Oven", "Pan", "Paper_Clip", "Pen", "Pencil", "Postit_Notes", "Printer", "Push_Pin",
           "Radio", "Refrigerator", "Ruler", "Scissors", "Screwdriver", "Shelf", "Sink", "Sneakers", "Soda",
           "Speaker", "Spoon", "TV", "Table", "Telephone", "ToothBrush", "Toys", "Trash_Can", "Webcam")


@DATASETS.register("office_home")
class OfficeHome(ImageListDataset):
    domains = ("Art", "Clipart", "Product", "Real_World")
    folder = "office_home"
    class_names = CLASSES
    # The authors' Google Drive file, then two copies of the same zip kept by other projects
    # (DomainBed's and a second one); all are checked against the md5 those projects publish.
    archives = (Archive("OfficeHomeDataset_10072016.zip",
                        (google_drive("0B81rNlvomiwed0V1YUxQdC1uOTg"), google_drive("1uY0pj7oFsjMxRwaD3Sxy0jgel0fsYXLC"),
                         google_drive("1o2ieb-WCn-d4UBpJ_Fg5n1uIil60nJz2")),
                        "md5:b1c14819770c4448fd5b6d931031c91c"),)
    class_folders = {"Art": "OfficeHomeDataset_10072016/Art", "Clipart": "OfficeHomeDataset_10072016/Clipart",
                     "Product": "OfficeHomeDataset_10072016/Product",
                     "Real_World": "OfficeHomeDataset_10072016/Real World"}
    counts = {"Art": 2427, "Clipart": 4365, "Product": 4439, "Real_World": 4357}
    licence = "non-commercial research and educational use only (the authors' terms)"
    citation = ("Venkateswara, Eusebio, Chakraborty, Panchanathan. Deep Hashing Network for Unsupervised Domain "
                "Adaptation. CVPR 2017")
    manual = "the authors ask users to accept their terms at https://www.hemanthdv.org/officeHomeDataset.html"
