"""Speech: the synthetic spoken-digits corpus, its data module and the log-mel front end."""
import math

import numpy as np
import pytest
import torch

from dabench.data.base import DATASETS
from dabench.errors import DabenchError

WORDS = ("one", "two", "three")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A small corpus: three words, the female and male domains (each voice in a fresh process)."""
    from dabench.data.speech_synth import write_corpus

    root = tmp_path_factory.mktemp("speech")
    return root, write_corpus(root, domains=("female", "male"), words=WORDS)


def test_the_generator_writes_the_same_bytes_for_the_same_call(corpus, tmp_path):
    from dabench.data.speech_synth import write_corpus

    _, manifest = corpus
    again = write_corpus(tmp_path, domains=("female",), words=WORDS)
    female = {k: v for k, v in manifest["files"].items() if k.startswith("female/")}
    assert again["files"] == female and len(female) == 5 * 3 * 3 * 3  # voices x words x rates x pitches
    assert manifest["synthesizer"].startswith("eSpeak NG ") and manifest["sample_rate"] == 16_000


def test_the_data_module_gives_one_second_waveforms_per_domain(corpus):
    root, _ = corpus
    dataset = DATASETS.build({"name": "spoken_digits_synth", "path": str(root)})
    x, y = dataset.load("female", "train").tensors
    assert x.shape == (135, 1, 16_000) and x.dtype == torch.float32 and x.abs().max() <= 1.0
    assert sorted(set(y.tolist())) == [1, 2, 3] and torch.bincount(y).tolist() == [0, 45, 45, 45]
    assert dataset.load("male", "test").tensors[0].shape == (216, 1, 16_000)
    assert dataset.verify() == []


def test_a_corrupted_wav_is_named_with_its_checksum(tmp_path):
    from dabench.data.speech_synth import write_corpus

    write_corpus(tmp_path, domains=("female",), words=("one",))
    victim = sorted((tmp_path / "female" / "1").glob("*.wav"))[3]
    victim.write_bytes(victim.read_bytes()[:100])
    dataset = DATASETS.build({"name": "spoken_digits_synth", "path": str(tmp_path)})
    with pytest.raises(DabenchError, match=rf"{victim.name} has sha256 [0-9a-f]{{64}}, its manifest says [0-9a-f]{{64}}"):
        dataset.load("female", "train")
    assert [p for p in dataset.verify() if victim.name in p]


def test_log_mel_matches_librosa_on_a_known_signal():
    import librosa

    from dabench.models.audio import LogMel

    t = np.arange(16_000) / 16_000
    signal = (0.5 * np.sin(2 * math.pi * 440 * t) + 0.2 * np.sin(2 * math.pi * 3000 * t)).astype(np.float32)
    reference = librosa.feature.melspectrogram(y=signal, sr=16_000, n_fft=512, hop_length=160, n_mels=40, power=2.0)
    ours = LogMel().power_mel(torch.from_numpy(signal)[None])[0].numpy()
    assert ours.shape == reference.shape == (40, 101)
    assert np.allclose(ours, reference, rtol=1e-4, atol=1e-6 * reference.max())
    band = librosa.mel_frequencies(42)[1:-1].searchsorted(440)  # the louder tone's mel band
    assert abs(int(ours[:, 50].argmax()) - band) <= 1


@pytest.mark.parametrize("method", ["source_only", "dan", "dann", "deep_coral", "cdan", "mcc", "shot"])
def test_methods_run_on_speech_and_stay_finite(corpus, method, tmp_path):
    from dabench.config import resolve
    from dabench.run import train

    root, _ = corpus
    cfg = resolve({"dataset": {"name": "spoken_digits_synth", "path": str(root)}, "source": "male", "target": "female",
                   "method": method, "model": {"backbone": {"name": "kws_cnn", "width": 16}, "bottleneck_dim": 32},
                   "trainer": {"steps": 30, "batch_size": 16, "eval_every": 30, "log_every": 10, "device": "cpu"}})
    result = train(cfg, tmp_path)
    assert all(math.isfinite(v) for v in result["final_losses"].values())
    assert result["data_sizes"]["target_test"] == 135 and 0 <= result["target_accuracy"] <= 100
