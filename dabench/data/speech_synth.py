"""A small real-audio corpus made offline: the spoken digits "zero" to "nine", synthesized by
eSpeak NG (the libespeak-ng library and voices that the ``espeakng-loader`` wheel ships).

Domains differ the way recorded ones do:

- ``male``: eSpeak's male voice variants m1-m8;
- ``female``: its female variants f1-f5 (another voice family: pitch range, formants);
- ``male_room``: the male voices through a reverberant room (a synthetic impulse response,
  exponentially decaying noise with RT60 0.5 s) and white noise at 10 dB SNR.

Each word is spoken at 3 rates (120, 160, 200 words per minute) and 3 pitches (25, 50, 75 on
eSpeak's 0-100 scale) per voice, resampled from eSpeak's 22,050 Hz to 16 kHz, centred in one
second and written as 16-bit WAV: ``<root>/<domain>/<digit>/<voice>_r<rate>_p<pitch>.wav``.
``manifest.json`` records the parameters, the eSpeak NG version and every file's sha256; the
room and noise draws are seeded per file, so the same call writes the same bytes.

It is synthetic speech: every table made on it says so.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
from pathlib import Path

import numpy as np

from dabench.errors import DabenchError
from dabench.processes import fresh_process_context

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VOICES = {"male": tuple(f"m{i}" for i in range(1, 9)), "female": tuple(f"f{i}" for i in range(1, 6))}
DOMAINS = {"male": ("male", False), "female": ("female", False), "male_room": ("male", True)}
RATES, PITCHES = (120, 160, 200), (25, 50, 75)
SAMPLE_RATE, ESPEAK_RATE = 16_000, 22_050
RT60_S, SNR_DB = 0.5, 10.0
FORK_PRELOAD = [__name__, "scipy.signal", "soundfile"]  # what each voice's process imports, never eSpeak


class Espeak:
    """libespeak-ng through ctypes, synthesizing into memory (espeak's AUDIO_OUTPUT_RETRIEVAL mode).
    The library is initialised once per process (a second espeak_Initialize hangs): use ``espeak()``."""

    RATE, PITCH = 1, 3  # espeak_PARAMETER values

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError:
            raise DabenchError("the speech synthesizer needs eSpeak NG: pip install espeakng-loader (or "
                               "pip install -e '.[speech]')") from None
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        if self.lib.espeak_Initialize(1, 0, espeakng_loader.get_data_path().encode(), 0) != ESPEAK_RATE:
            raise DabenchError("eSpeak NG did not start at 22,050 Hz; reinstall espeakng-loader")
        self.lib.espeak_Info.restype = ctypes.c_char_p
        self.version = self.lib.espeak_Info(None).decode()
        self._chunks: list[np.ndarray] = []
        callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        self._callback = callback(self._collect)  # kept: the library holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, samples, count, events) -> int:
        if samples and count > 0:
            self._chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        return 0

    def say(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        """(n,) int16 samples at 22,050 Hz of `text` in English with eSpeak variant `voice`."""
        if self.lib.espeak_SetVoiceByName(f"en+{voice}".encode()) != 0:
            raise DabenchError(f"eSpeak NG has no voice variant '{voice}'")
        self.lib.espeak_SetParameter(self.RATE, rate, 0)
        self.lib.espeak_SetParameter(self.PITCH, pitch, 0)
        self._chunks = []
        data = text.encode()
        self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 0, None, None)
        self.lib.espeak_Synchronize()
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)


_ESPEAK: list[Espeak] = []


def espeak() -> Espeak:
    """The process's one Espeak."""
    if not _ESPEAK:
        _ESPEAK.append(Espeak())
    return _ESPEAK[0]


def one_second(samples: np.ndarray) -> np.ndarray:
    """int16 samples at 22,050 Hz -> float32 at 16 kHz, trimmed of silence and centred in 16,000 samples."""
    from scipy.signal import resample_poly

    x = resample_poly(samples.astype(np.float64) / 32768, 320, 441)  # 22,050 * 320 / 441 = 16,000
    loud = np.flatnonzero(np.abs(x) > 0.01)
    x = x[loud[0]:loud[-1] + 1] if len(loud) else x
    x = x[:SAMPLE_RATE]
    out = np.zeros(SAMPLE_RATE)
    start = (SAMPLE_RATE - len(x)) // 2
    out[start:start + len(x)] = x
    return out.astype(np.float32)


def room(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`x` convolved with a synthetic room impulse response (direct path + exponentially decaying
    noise, RT60_S) plus white noise at SNR_DB, peak-normalised to its original peak."""
    from scipy.signal import fftconvolve

    t = np.arange(int(RT60_S * SAMPLE_RATE)) / SAMPLE_RATE
    impulse = rng.standard_normal(len(t)) * np.exp(-6.9 * t / RT60_S) * 0.3  # -60 dB at RT60
    impulse[0] = 1.0
    wet = fftconvolve(x, impulse)[:len(x)]
    noise = rng.standard_normal(len(x))
    noise *= np.sqrt(np.mean(wet ** 2) / (10 ** (SNR_DB / 10)) / np.mean(noise ** 2))
    out = wet + noise
    return (out * (np.abs(x).max() / max(np.abs(out).max(), 1e-9))).astype(np.float32)


def write_corpus(root: str | Path, domains: tuple[str, ...] = tuple(DOMAINS), words: tuple[str, ...] = WORDS,
                 seed: int = 0, voices: int | None = None) -> dict:
    """Write the corpus under `root` and return its manifest (also root/manifest.json); `voices`: only the first
    that many voices of each family (a smaller corpus, e.g. for tests), else all.

    eSpeak's output depends on what the library synthesized before in the same process (its
    wave generator keeps state), so each (domain, voice) is synthesized in a fresh process, in a
    fixed order: the same call writes the same bytes, whatever ran before it. The processes fork from a
    server that has imported FORK_PRELOAD but never loaded eSpeak (dabench.processes), which halves the
    corpus's time.
    """
    from concurrent.futures import ProcessPoolExecutor

    root = Path(root)
    unknown = [d for d in domains if d not in DOMAINS]
    if unknown:
        raise DabenchError(f"unknown speech domain(s) {', '.join(unknown)}; known: {', '.join(DOMAINS)}")
    files, version = {}, ""
    chosen = {family: names[:voices] for family, names in VOICES.items()}
    for domain in domains:
        for voice in chosen[DOMAINS[domain][0]]:
            with ProcessPoolExecutor(1, mp_context=fresh_process_context(FORK_PRELOAD)) as fresh:
                written, version = fresh.submit(write_voice, str(root), domain, voice, words, seed).result()
            files.update(written)
    manifest = {"synthesizer": f"eSpeak NG {version} (espeakng-loader)", "sample_rate": SAMPLE_RATE,
                "words": list(words), "voices": {d: list(chosen[DOMAINS[d][0]]) for d in domains},
                "rates_wpm": list(RATES), "pitches": list(PITCHES), "room": {"rt60_s": RT60_S, "snr_db": SNR_DB},
                "seed": seed, "files": dict(sorted(files.items()))}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def write_voice(root: str, domain: str, voice: str, words: tuple[str, ...], seed: int) -> tuple[dict, str]:
    """Every word, rate and pitch of one voice in one domain: ({relative path: sha256}, eSpeak version)."""
    import soundfile

    synthesizer, reverberant, files = espeak(), DOMAINS[domain][1], {}
    for label, word in enumerate(words):
        for rate in RATES:
            for pitch in PITCHES:
                synthesizer.lib.espeak_ng_SetRandSeed(seed)
                x = one_second(synthesizer.say(word, voice, rate, pitch))
                if reverberant:
                    key = f"{seed}/{domain}/{word}/{voice}/{rate}/{pitch}".encode()
                    x = room(x, np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little")))
                path = Path(root) / domain / str(WORDS.index(word)) / f"{voice}_r{rate}_p{pitch}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(path, x, SAMPLE_RATE, subtype="PCM_16")
                files[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files, synthesizer.version
