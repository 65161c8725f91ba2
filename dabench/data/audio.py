"""Recorded speech on disk: clips read with soundfile, resampled to 16 kHz, fixed length.

``AudioListDataset`` is the audio ``FileListDataset`` (archives, checksums, counts, split files:
dabench.data.archives): subclasses list their clips with ``samples(key)``; ``load`` decodes
them into a (N, 1, samples) float32 tensor held in memory. Used by ``fsdd``,
``speech_commands`` and ``audio_folder``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dabench.data.archives import FileListDataset
from dabench.data.base import tensor_dataset
from dabench.errors import DabenchError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")


def fixed_length(wave: np.ndarray, length: int) -> np.ndarray:
    """Centre `wave` in `length` samples: zero-padded on both sides, or its middle kept."""
    if len(wave) >= length:
        start = (len(wave) - length) // 2
        return wave[start:start + length]
    out = np.zeros(length, dtype=wave.dtype)
    start = (length - len(wave)) // 2
    out[start:start + len(wave)] = wave
    return out


def read_wave(path: str | Path, sample_rate: int) -> np.ndarray:
    """A whole audio file as (samples,) float32 in [-1, 1] at `sample_rate`: channels averaged,
    resampled with librosa (soxr) when the file's rate differs."""
    import soundfile

    try:
        wave, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except RuntimeError as err:  # soundfile's LibsndfileError
        raise DabenchError(f"cannot read audio file {path} ({' '.join(str(err).split())}); it is corrupt or not "
                           f"audio: delete it and download or import the dataset again") from None
    if not len(wave):
        raise DabenchError(f"audio file {path} holds no samples (0 frames); delete it or replace it with the clip")
    if not np.isfinite(wave).all():
        raise DabenchError(f"audio file {path} holds NaN or infinite samples; delete it or replace it with the clip")
    wave = wave.mean(axis=1)
    if rate != sample_rate:
        import librosa

        wave = librosa.resample(wave, orig_sr=rate, target_sr=sample_rate).astype(np.float32)
    return wave


def read_clips(paths: list[str], sample_rate: int, length: int) -> torch.Tensor:
    """(N, 1, length) float32 waveforms of `paths`, each centred in `length` samples (see
    ``read_wave``, ``fixed_length``)."""
    from tqdm.auto import tqdm

    progress = tqdm(paths, desc="reading audio", unit="clip", disable=len(paths) < 5000, leave=False)
    waves = [fixed_length(read_wave(p, sample_rate), length) for p in progress]
    return torch.from_numpy(np.stack(waves)[:, None]) if waves else torch.zeros(0, 1, length)


class AudioListDataset(FileListDataset):
    """Audio clips on disk: each sample is a (1, sample_rate * seconds) waveform at 16 kHz by
    default, the input of the speech backbones (``kws_cnn``). Keyword arguments:
    ``sample_rate`` (Hz), ``seconds`` (clip length), ``test_fraction``/``split_seed`` (see
    ``FileListDataset``)."""

    modality = "audio"

    def __init__(self, root=None, sample_rate: int = 16_000, seconds: float = 1.0, test_fraction: float = 0.0,
                 split_seed: int = 0):
        super().__init__(root, test_fraction, split_seed)
        self.sample_rate, self.length = sample_rate, round(sample_rate * seconds)
        self.input_shape = (1, self.length)

    def load(self, domain, split):
        paths, labels = self.split_samples(domain, split)
        return tensor_dataset(read_clips(paths, self.sample_rate, self.length), labels)
