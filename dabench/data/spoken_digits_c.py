"""spoken_digits_c: the synthetic spoken digits under audio corruptions at three severities, the audio counterpart of
digits_c for test-time streams.

``clean`` is spoken_digits_synth's male voices, split per word by file order: even-numbered clips train, odd-numbered
clips test (360 each). ``<corruption>-<severity>`` is that test split corrupted, a test split only, in this order:

    white_noise, pink_noise   additive noise at an SNR of 20, 10, 0 dB (pink: a 1/f power spectrum)
    reverb                    a room: convolution with a decaying noise impulse response, RT60 0.2, 0.5, 1.0 s
    pitch_up, pitch_down      librosa's pitch shift by +-1, 2, 4 semitones, duration kept
    tempo_up, tempo_down      librosa's time stretch by 1.1, 1.25, 1.5 (up) or 0.9, 0.8, 0.67 (down), centred
                              back into one second

Noise and rooms are drawn from a generator seeded by the domain and the clip's index: a domain is the same on every
run. Each corrupted clip is scaled back into [-1, 1] only if it leaves it. Made on load (a few seconds), not cached.
"""
from __future__ import annotations

import numpy as np
import torch

from dabench.data.audio import fixed_length
from dabench.data.base import DATASETS, DomainDataset, tensor_dataset
from dabench.data.corrupted import alternate_split, check_corrupted_domain, check_test_split, domain_seed
from dabench.data.speech_synth import SAMPLE_RATE, WORDS
from dabench.data.spoken_digits import SpokenDigitsSynth

LEVELS = {"white_noise": (20.0, 10.0, 0.0), "pink_noise": (20.0, 10.0, 0.0), "reverb": (0.2, 0.5, 1.0),
          "pitch_up": (1.0, 2.0, 4.0), "pitch_down": (-1.0, -2.0, -4.0), "tempo_up": (1.1, 1.25, 1.5),
          "tempo_down": (0.9, 0.8, 0.67)}
CORRUPTIONS = tuple(LEVELS)
SEVERITIES = (1, 2, 3)


def add_noise(wave: np.ndarray, snr_db: float, colour: str, rng: np.random.Generator) -> np.ndarray:
    """`wave` plus white or pink noise scaled so that 10 log10(signal power / noise power) = `snr_db`."""
    noise = rng.standard_normal(len(wave))
    if colour == "pink":  # power ~ 1/f: amplitudes ~ 1/sqrt(f), the DC bin left out
        spectrum = np.fft.rfft(noise)
        frequencies = np.fft.rfftfreq(len(wave))
        spectrum[1:] /= np.sqrt(frequencies[1:])
        spectrum[0] = 0
        noise = np.fft.irfft(spectrum, n=len(wave))
    scale = np.sqrt(np.mean(wave ** 2) / (np.mean(noise ** 2) * 10 ** (snr_db / 10)))
    return wave + scale * noise


def room_response(rt60: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A room's impulse response: the direct sound (1) then Gaussian noise whose amplitude falls by 60 dB in `rt60`
    seconds, exp(-3 ln(10) t / rt60), rt60 seconds long."""
    t = np.arange(int(rt60 * sample_rate)) / sample_rate
    response = rng.standard_normal(len(t)) * np.exp(-3 * np.log(10) * t / rt60)
    response[0] = 1.0
    return response


def corrupt_wave(wave: np.ndarray, corruption: str, severity: int, rng: np.random.Generator) -> np.ndarray:
    """One (T,) waveform at 16 kHz -> the same corrupted, (T,) float32 in [-1, 1]."""
    import librosa
    from scipy.signal import fftconvolve

    level = LEVELS[corruption][severity - 1]
    if corruption in ("white_noise", "pink_noise"):
        out = add_noise(wave, level, corruption.split("_")[0], rng)
    elif corruption == "reverb":
        out = fftconvolve(wave, room_response(level, SAMPLE_RATE, rng))[:len(wave)]
        out *= np.abs(wave).max() / max(np.abs(out).max(), 1e-12)  # the dry clip's peak
    elif corruption in ("pitch_up", "pitch_down"):
        out = librosa.effects.pitch_shift(wave, sr=SAMPLE_RATE, n_steps=level)
    else:
        out = fixed_length(librosa.effects.time_stretch(wave, rate=level), len(wave))
    peak = np.abs(out).max()
    return (out / peak if peak > 1 else out).astype(np.float32)


@DATASETS.register("spoken_digits_c")
class SpokenDigitsC(DomainDataset):
    modality = "audio"
    domains = ("clean", *[f"{c}-{s}" for c in CORRUPTIONS for s in SEVERITIES])
    num_classes = len(WORDS)
    class_names = WORDS
    input_shape = (1, SAMPLE_RATE)
    protocol = ("clean: every other clip of each word (spoken_digits_synth's male voices) for train, the rest for "
                "test; <corruption>-<severity>: that test split corrupted (seeded per domain and clip); SYNTHETIC "
                "speech")
    citation = SpokenDigitsSynth.citation
    licence = "synthetic: eSpeak NG output (GPL-3.0 tool; the clips carry no licence)"

    def __init__(self, root=None, path: str | None = None):
        super().__init__(root)
        self.speech = SpokenDigitsSynth(root, path)

    def check_domain(self, domain):
        check_corrupted_domain(self, domain, CORRUPTIONS, SEVERITIES)

    def missing_files(self, domain):
        return self.speech.missing_files("male")

    def present(self, domain):
        return self.speech.present("male")

    def fetch_command(self):
        return self.speech.fetch_command()

    def load(self, domain, split):
        self.check_domain(domain)
        check_test_split(self, domain, split)
        x, y = self.speech.load("male", "train").tensors
        self.used_files.update(self.speech.used_files)
        keep = alternate_split(y, split, self.num_classes)
        x, y = x[keep], y[keep]
        if domain == "clean":
            return tensor_dataset(x, y)
        corruption, severity = domain.rsplit("-", 1)
        waves = [corrupt_wave(wave[0].numpy().astype(np.float64), corruption, int(severity),
                              np.random.default_rng([domain_seed(domain), i])) for i, wave in enumerate(x)]
        return tensor_dataset(torch.from_numpy(np.stack(waves)[:, None]), y)
