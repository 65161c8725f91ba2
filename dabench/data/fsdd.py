"""Free Spoken Digit Dataset (Jackson et al., 2016-2018), release v1.0.9: the digits 0-9 spoken
by five English speakers, 50 times each, recorded at 8 kHz. Speakers are the domains: george
(Greek accent), jackson (US), nicolas (Belgian French), theo (US), yweweler (German); all male.

Files ``recordings/<digit>_<speaker>_<index>.wav``. Official split (the dataset's README):
indices 0-4 are the test set, 5-49 the training set, so each domain has 450 training and 50
test clips. Clips are resampled to 16 kHz and centred in one second (``seconds``). The
checksum is the one TensorFlow Datasets pins for this release's archive (the authors publish
none).
"""
from pathlib import Path

from dabench.data.archives import Archive
from dabench.data.audio import AudioListDataset
from dabench.data.base import DATASETS

RELEASE = "free-spoken-digit-dataset-1.0.9"
SPEAKERS = ("george", "jackson", "nicolas", "theo", "yweweler")
TEST_INDICES = range(5)


@DATASETS.register("fsdd")
class FreeSpokenDigits(AudioListDataset):
    domains = SPEAKERS
    folder = "fsdd"
    class_names = tuple(str(d) for d in range(10))
    archives = (Archive(f"{RELEASE}.tar.gz",
                        ("https://github.com/Jakobovski/free-spoken-digit-dataset/archive/v1.0.9.tar.gz",),
                        "sha256:8bc44cde129d505cbbb6b365c09f80c663f2aa77578afc634e6141a2f87100c0"),)
    counts = {f"{s}/{split}": n for s in SPEAKERS for split, n in (("train", 450), ("test", 50))}
    transductive = False
    protocol = "official split: recordings 0-4 of each digit are the test set, 5-49 the training set"
    citation = ("Jackson et al. Free Spoken Digit Dataset v1.0.9, https://github.com/Jakobovski/free-spoken-digit-dataset "
                "(Zenodo doi:10.5281/zenodo.1342401)")
    licence = "CC BY-SA 4.0"

    def samples(self, key):
        speaker, split = key.split("/")
        paths, labels = [], []
        for path in sorted((self.directory / RELEASE / "recordings").glob(f"*_{speaker}_*.wav")):
            digit, _, index = Path(path).stem.split("_")
            if (int(index) in TEST_INDICES) == (split == "test"):
                paths.append(str(path))
                labels.append(int(digit))
        return paths, labels
