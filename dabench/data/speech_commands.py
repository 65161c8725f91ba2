"""Google Speech Commands v0.02 (Warden, arXiv:1804.03209): 105,829 one-second 16 kHz clips of 35
words from 2,618 speakers, with the release's speaker-disjoint validation and testing lists
and six background-noise recordings (``_background_noise_``).

Domains come from the release's own metadata:

- speaker groups: ``a`` = speakers whose id (the hash before ``_nohash_``) begins with 0-7,
  ``b`` = 8-f, a fixed random half of the speakers each;
- channel: ``clean``, or ``noisy``: each clip mixed with a segment of one of the background
  noise files at ``snr_db`` dB (file and offset drawn per clip from ``noise_seed`` and the
  clip's name, so every run gets the same mix).

So ``a_clean -> b_clean`` is a speaker shift, ``a_clean -> a_noisy`` a channel shift and
``a_clean -> b_noisy`` both. Splits are the release's: ``test`` = testing_list.txt, ``train``
= the clips in neither list (the validation list is not used). ``words``: ``ten`` (yes, no,
up, down, left, right, on, off, stop, go: the standard 10 keywords) or ``all`` (35).
"""
from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from dabench.data.archives import Archive
from dabench.data.audio import AudioListDataset, read_clips, read_wave
from dabench.data.base import DATASETS, tensor_dataset
from dabench.errors import DabenchError

TEN = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
ALL = ("backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four", "go", "happy",
       "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven", "sheila", "six", "stop",
       "three", "tree", "two", "up", "visual", "wow", "yes", "zero")
WORD_SETS = {"ten": TEN, "all": ALL}
GROUPS = {"a": "01234567", "b": "89abcdef"}
NOISE_FOLDER = "_background_noise_"


@DATASETS.register("speech_commands")
class SpeechCommands(AudioListDataset):
    domains = ("a_clean", "a_noisy", "b_clean", "b_noisy")
    folder = "speech_commands_v0.02"
    archives = (Archive("speech_commands_v0.02.tar.gz",
                        ("http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
                         "https://storage.googleapis.com/download.tensorflow.org/data/speech_commands_v0.02.tar.gz"),
                        "sha256:af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"),)
    transductive = False
    citation = "Warden. Speech Commands: A Dataset for Limited-Vocabulary Speech Recognition. arXiv:1804.03209, 2018"
    licence = "CC BY 4.0"

    def __init__(self, root=None, words: str = "ten", snr_db: float = 5.0, noise_seed: int = 0, sample_rate: int = 16_000,
                 seconds: float = 1.0):
        if words not in WORD_SETS:
            raise DabenchError(f"speech_commands: unknown words '{words}'; known: {', '.join(WORD_SETS)}")
        self.class_names = WORD_SETS[words]
        super().__init__(root, sample_rate, seconds)
        self.words, self.snr_db, self.noise_seed = words, snr_db, noise_seed
        self.protocol = (f"official split (testing_list.txt is the test set); speaker groups by id; noisy = "
                         f"background noise at {snr_db:g} dB SNR")

    @cached_property
    def split_lists(self) -> dict[str, set[str]]:
        return {name: set((self.directory / f"{name}_list.txt").read_text().split())
                for name in ("validation", "testing")}

    def samples(self, key):
        domain, split = key.split("/")
        group = GROUPS[domain.split("_")[0]]
        paths, labels = [], []
        for label, word in enumerate(self.class_names):
            for path in sorted((self.directory / word).glob("*.wav")):
                name = f"{word}/{path.name}"
                held_out = "testing" if name in self.split_lists["testing"] else (
                    "validation" if name in self.split_lists["validation"] else "training")
                if path.name[0] in group and held_out == ("testing" if split == "test" else "training"):
                    paths.append(str(path))
                    labels.append(label)
        return paths, labels

    def load(self, domain, split):
        paths, labels = self.split_samples(domain, split)
        waves = read_clips(paths, self.sample_rate, self.length)
        if domain.endswith("_noisy"):
            names = [Path(p).relative_to(self.directory).as_posix() for p in paths]
            waves = mix_noise(waves, names, self.noises(), self.snr_db, self.noise_seed)
        return tensor_dataset(waves, labels)

    def noises(self) -> list[np.ndarray]:
        paths = sorted((self.directory / NOISE_FOLDER).glob("*.wav"))
        if not paths:
            raise DabenchError(f"speech_commands: no background noise under {self.directory / NOISE_FOLDER}; the "
                               f"extraction is incomplete: delete {self.directory} and download again")
        return [read_wave(p, self.sample_rate) for p in paths]


def mix_noise(waves: torch.Tensor, names: list[str], noises: list[np.ndarray], snr_db: float, seed: int) -> torch.Tensor:
    """(N, 1, L) clean clips -> each plus a segment of one of `noises` scaled to `snr_db` dB below
    the clip's mean power. The noise file and offset are drawn from (seed, sha256 of the clip's
    name), so a clip's mix does not depend on which other clips are loaded."""
    out = waves.clone()
    length = waves.shape[-1]
    for i, name in enumerate(names):
        rng = np.random.default_rng([seed, int(hashlib.sha256(name.encode()).hexdigest()[:15], 16)])
        noise = noises[rng.integers(len(noises))]
        if len(noise) < length:
            raise DabenchError(f"speech_commands: a background noise file is shorter than a clip ({len(noise)} < "
                               f"{length} samples); the extraction is incomplete")
        start = rng.integers(len(noise) - length + 1)
        segment = torch.from_numpy(noise[start:start + length])
        gain = torch.sqrt(waves[i, 0].square().mean() / segment.square().mean().clamp_min(1e-12) / 10 ** (snr_db / 10))
        out[i, 0] += gain * segment
    return out
