"""spoken_digits_c: each audio corruption against its definition computed independently (numpy, scipy, librosa), the
clean split, seeding and one-line errors."""
import numpy as np
import pytest
import torch

from dabench.data.spoken_digits_c import LEVELS, corrupt_wave, room_response
from dabench.errors import DabenchError

RATE = 16_000
WAVE = 0.3 * np.sin(2 * np.pi * 220 * np.arange(RATE) / RATE) * np.hanning(RATE)


@pytest.mark.parametrize("severity", [1, 2, 3])
def test_white_noise_has_the_signal_to_noise_ratio_of_its_severity(severity):
    out = corrupt_wave(WAVE, "white_noise", severity, np.random.default_rng(0)).astype(np.float64)
    noise = out - WAVE
    snr = 10 * np.log10(np.mean(WAVE ** 2) / np.mean(noise ** 2))
    assert abs(snr - LEVELS["white_noise"][severity - 1]) < 0.01  # float32 rounding only


def test_pink_noise_falls_by_about_ten_decibels_a_decade():
    noise = corrupt_wave(np.zeros(RATE) + 1e-3, "pink_noise", 3, np.random.default_rng(1)).astype(np.float64)
    power = np.abs(np.fft.rfft(noise - 1e-3)) ** 2
    f = np.fft.rfftfreq(RATE, 1 / RATE)
    bands = [power[(f >= lo) & (f < 2 * lo)].mean() for lo in (100, 1000)]  # an octave a decade apart
    assert abs(10 * np.log10(bands[0] / bands[1]) - 10) < 1.5  # 1/f power: -10 dB per decade


def test_reverb_convolves_with_a_decaying_room_response_scaled_to_the_dry_peak():
    out = corrupt_wave(WAVE, "reverb", 2, np.random.default_rng(2))
    rng = np.random.default_rng(2)
    t = np.arange(int(0.5 * RATE)) / RATE
    response = rng.standard_normal(len(t)) * 10 ** (-3 * t / 0.5)  # -60 dB at t = RT60
    response[0] = 1.0
    wet = np.convolve(WAVE, response)[:RATE]
    assert np.allclose(out, wet * np.abs(WAVE).max() / np.abs(wet).max(), atol=1e-6)
    assert np.allclose(room_response(0.5, RATE, np.random.default_rng(2)), response)


@pytest.mark.parametrize("corruption, severity", [("pitch_up", 3), ("pitch_down", 1), ("tempo_up", 2),
                                                  ("tempo_down", 3)])
def test_pitch_and_tempo_are_librosas_at_the_level_of_their_severity(corruption, severity):
    import librosa

    level = LEVELS[corruption][severity - 1]
    out = corrupt_wave(WAVE, corruption, severity, np.random.default_rng(0))
    if corruption.startswith("pitch"):
        expected = librosa.effects.pitch_shift(WAVE, sr=RATE, n_steps=level)
    else:
        stretched = librosa.effects.time_stretch(WAVE, rate=level)
        assert abs(len(stretched) - RATE / level) < 512  # the duration changes by the rate
        start = (len(stretched) - RATE) // 2
        expected = stretched[start:start + RATE] if start >= 0 else np.pad(stretched, (-start, RATE - len(stretched) + start))
    assert out.shape == (RATE,) and np.allclose(out, expected, atol=1e-6)


def test_the_dataset_splits_each_word_in_two_and_corrupts_the_test_half(speech_corpus):
    from dabench.data.base import DATASETS

    dataset = DATASETS.build({"name": "spoken_digits_c", "path": str(speech_corpus[0])})
    (train, train_y), (test, test_y) = dataset.load("clean", "train").tensors, dataset.load("clean", "test").tensors
    assert len(train) + len(test) == 54 and train_y.bincount().tolist() == test_y.bincount().tolist()
    noisy, noisy_y = dataset.load("white_noise-2", "test").tensors
    assert torch.equal(noisy_y, test_y) and noisy.shape == test.shape
    assert torch.equal(noisy, dataset.load("white_noise-2", "test").tensors[0])  # seeded
    with pytest.raises(DabenchError, match="spoken_digits_c: severity '5' of reverb is not one of 1, 2, 3"):
        dataset.load("reverb-5", "test")
    with pytest.raises(DabenchError, match="has a test split only"):
        dataset.load("reverb-1", "train")
