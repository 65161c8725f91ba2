"""Speech: the synthetic spoken-digits corpus, its data module and the log-mel front end."""
import math

import numpy as np
import pytest
import torch
from conftest import SPEECH_VOICES
from conftest import SPEECH_WORDS as WORDS

from dabench.data.base import DATASETS
from dabench.errors import DabenchError
from dabench.methods.base import METHODS


def test_the_generator_writes_the_same_bytes_for_the_same_call(speech_corpus, tmp_path):
    from dabench.data.speech_synth import write_corpus

    _, manifest = speech_corpus
    again = write_corpus(tmp_path, domains=("female",), words=WORDS, voices=SPEECH_VOICES)
    female = {k: v for k, v in manifest["files"].items() if k.startswith("female/")}
    assert again["files"] == female and len(female) == 2 * 3 * 3 * 3  # voices x words x rates x pitches
    assert manifest["voices"] == {"male": ["m1", "m2"], "female": ["f1", "f2"], "male_room": ["m1", "m2"]}
    assert manifest["synthesizer"].startswith("eSpeak NG ") and manifest["sample_rate"] == 16_000


def test_the_data_module_gives_one_second_waveforms_per_domain(speech_corpus):
    root, _ = speech_corpus
    dataset = DATASETS.build({"name": "spoken_digits_synth", "path": str(root)})
    x, y = dataset.load("female", "train").tensors
    assert x.shape == (54, 1, 16_000) and x.dtype == torch.float32 and x.abs().max() <= 1.0
    assert sorted(set(y.tolist())) == [1, 2, 3] and torch.bincount(y).tolist() == [0, 18, 18, 18]
    assert dataset.load("male", "test").tensors[0].shape == (54, 1, 16_000)
    assert dataset.verify() == []


def test_the_corpus_is_written_once_on_first_use(tmp_path, monkeypatch):
    import dabench.data.spoken_digits as spoken_digits
    from dabench.data.speech_synth import write_corpus

    calls = []

    def one_word(root):  # the whole corpus takes a minute: one word of one domain shows the path
        calls.append(root)
        return write_corpus(root, domains=("female",), words=("one",))

    monkeypatch.setattr(spoken_digits, "write_corpus", one_word)
    dataset = DATASETS.build({"name": "spoken_digits_synth", "path": str(tmp_path / "corpus")})
    assert not dataset.present("female")
    assert len(dataset.load("female", "train").tensors[0]) == len(dataset.load("female", "test").tensors[0]) == 45
    assert len(calls) == 1 and dataset.present("female") and not dataset.present("male")


def test_a_corrupted_wav_is_named_with_its_checksum(tmp_path):
    from dabench.data.speech_synth import write_corpus

    write_corpus(tmp_path, domains=("female",), words=("one",))
    victim = sorted((tmp_path / "female" / "1").glob("*.wav"))[3]
    victim.write_bytes(victim.read_bytes()[:100])
    dataset = DATASETS.build({"name": "spoken_digits_synth", "path": str(tmp_path)})
    with pytest.raises(DabenchError, match=rf"{victim.name} has sha256 [0-9a-f]{{64}}, its manifest says [0-9a-f]{{64}}"):
        dataset.load("female", "train")
    assert [p for p in dataset.verify() if victim.name in p]


def test_a_damaged_manifest_is_named_with_the_fix_by_load_verify_and_list(tmp_path, monkeypatch, capsys):
    from dabench.cli import main

    monkeypatch.setenv("DABENCH_CACHE", str(tmp_path))
    corpus = tmp_path / "spoken_digits_synth"  # the default corpus, the one `dabench list` looks at
    corpus.mkdir()
    (corpus / "manifest.json").write_text("{not json")
    dataset = DATASETS.build("spoken_digits_synth")
    with pytest.raises(DabenchError, match=rf"manifest.json: not valid JSON .*delete {corpus} to write the corpus "):
        dataset.load("female", "train")
    assert not dataset.present("female")
    assert main(["list", "datasets"]) == 0
    assert main(["data", "verify", "spoken_digits_synth"]) == 2
    assert f"spoken_digits_synth: delete {corpus}: the corpus is written again on first use" in capsys.readouterr().err
    (corpus / "manifest.json").write_text('{"files": [1, 2]}')
    assert any("has no valid 'files' map" in line for line in dataset.verify())


def test_data_verify_and_list_tell_an_unwritten_corpus_from_a_written_one(speech_corpus, tmp_path, monkeypatch,
                                                                        capsys):
    from dabench.cli import main

    root, _ = speech_corpus
    assert main(["data", "verify", "spoken_digits_synth", "--path", str(tmp_path / "unwritten")]) == 0
    assert "spoken_digits_synth    not written yet; present: none" in capsys.readouterr().out
    assert main(["data", "verify", "spoken_digits_synth", "--path", str(root)]) == 0
    assert "spoken_digits_synth    ok; present: male, female, male_room" in capsys.readouterr().out
    monkeypatch.setenv("DABENCH_CACHE", str(tmp_path / "cache"))
    assert main(["list", "datasets"]) == 0
    assert ("domains: male (written on first use), female (written on first use), male_room (written on first "
            "use)") in capsys.readouterr().out
    assert not (tmp_path / "cache").exists()  # listing writes nothing


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


@pytest.mark.parametrize("method", METHODS.names())
def test_every_method_runs_on_speech_and_stays_finite(speech_corpus, method, tmp_path):
    from dabench.config import resolve
    from dabench.run import train
    from dabench.testing import method_sections

    root, _ = speech_corpus
    sections = method_sections(method, sources=["male", "female"], known_classes=[1, 2])
    cfg = resolve({"dataset": {"name": "spoken_digits_synth", "path": str(root)}, "source": "male",
                   "target": "male_room", **sections,
                   "model": {"backbone": {"name": "kws_cnn", "width": 8}, "bottleneck_dim": 16},
                   "trainer": {"steps": 12, "batch_size": 8, "eval_every": 12, "log_every": 4, "device": "cpu"}})
    result = train(cfg, tmp_path)
    assert result["final_losses"] and all(math.isfinite(v) for v in result["final_losses"].values())


def test_time_shift_moves_each_clip_by_its_own_whole_number_of_samples():
    from dabench.data.augment import time_shift

    waves = torch.randn(6, 1, 400)
    torch.manual_seed(0)
    shifted = time_shift(waves, max_shift=0.1)
    found = []
    for wave, out in zip(waves[:, 0], shifted[:, 0]):
        matches = [k for k in range(-40, 41)
                   if torch.equal(out, torch.cat([torch.zeros(k), wave[:400 - k]]) if k >= 0
                                  else torch.cat([wave[-k:], torch.zeros(-k)]))]
        assert len(matches) == 1
        found.append(matches[0])
    assert len(set(found)) > 1
    torch.manual_seed(0)
    assert torch.equal(time_shift(waves, max_shift=0.1), shifted)


def test_spec_augment_zeroes_time_spans_and_removes_mel_bands():
    from dabench.data.augment import spec_augment

    t = torch.arange(16_000) / 16_000
    waves = sum(torch.sin(2 * math.pi * f * t) for f in (150, 700, 2500, 6000)).expand(8, 1, 16_000).clone()
    torch.manual_seed(1)
    timed = spec_augment(torch.ones(8, 1, 16_000), time_masks=2, time_width=0.1, freq_masks=0)
    kept, zeroed = (timed - 1).abs() < 1e-4, timed.abs() < 1e-4
    assert (kept | zeroed).all() and zeroed.any()
    for row in zeroed[:, 0].int():  # at most two zeroed spans of at most 0.1 s each
        starts = int((row[1:] - row[:-1] == 1).sum()) + int(row[0])
        assert starts <= 2 and int(row.sum()) <= 2 * 1_600
    torch.manual_seed(1)
    banded = spec_augment(waves, freq_masks=2, freq_width=0.15, time_masks=0)
    ratio = torch.fft.rfft(banded[:, 0]).abs() / torch.fft.rfft(waves[:, 0]).abs().clamp_min(1e-3)
    tones = torch.tensor([150, 700, 2500, 6000])  # 1 Hz bins
    removed = ratio[:, tones] < 1e-3
    assert (removed | ((ratio[:, tones] - 1).abs() < 1e-3)).all() and removed.any() and not removed.all()
    mel = torch.log10(1 + tones / 700) / math.log10(1 + 8000 / 700)
    for row in removed:  # removed tones lie in at most two bands of at most 0.15 of the mel scale
        spans = mel[row]
        assert len(spans) == 0 or (spans.max() - spans.min() <= 0.15 or len(spans) <= 2)
