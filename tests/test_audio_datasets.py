"""Recorded-speech datasets end to end: FSDD and Speech Commands archives built in their real
layout (tone clips instead of speech) are downloaded from a local server, checked, extracted,
counted and loaded; the audio_folder form reads any domain/class/*.wav tree."""
import io
import re
import tarfile
from dataclasses import replace

import numpy as np
import pytest
import soundfile
import torch

from dabench.cli import main
from dabench.data.archives import prepare, verify
from dabench.data.base import DATASETS
from dabench.data.checksums import sha256_of
from dabench.errors import DabenchError
from dabench.testing import make_audio_folder_domains, tone


def wav_bytes(wave: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, wave, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def write_tar(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def serve_archive(name, members, served, url, monkeypatch, counts=None):
    """Write `members` as the dataset's one archive on the local server, with its real checksum."""
    cls = DATASETS.get(name)
    archive = cls.archives[0]
    write_tar(served / archive.name, members)
    monkeypatch.setattr(cls, "archives", (replace(archive, mirrors=(url + archive.name,),
                                                  checksum=f"sha256:{sha256_of(served / archive.name)}"),))
    if counts is not None:
        monkeypatch.setattr(cls, "counts", counts)
    return cls


def dominant_hz(wave: torch.Tensor, rate: int = 16_000) -> float:
    spectrum = np.abs(np.fft.rfft(wave.numpy()))
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[spectrum.argmax()])


def test_fsdd_speakers_are_domains_with_the_official_split(server, tmp_path, monkeypatch):
    from dabench.data.fsdd import RELEASE, SPEAKERS

    served, url = server
    members = {f"{RELEASE}/recordings/{digit}_{speaker}_{index}.wav":
               wav_bytes(tone(200 + 100 * digit, 0.4 + 0.5 * (index == 6), 8_000), 8_000)
               for speaker in SPEAKERS for digit in (3, 7) for index in (0, 4, 5, 6)}
    members[f"{RELEASE}/README.md"] = b"FSDD"
    serve_archive("fsdd", members, served, url, monkeypatch,
                  {f"{s}/{split}": 4 for s in SPEAKERS for split in ("train", "test")})
    dataset = DATASETS.build("fsdd", root=tmp_path)
    assert dataset.missing_files("theo")
    prepare(dataset, progress=False)
    x, y = dataset.load("theo", "train").tensors
    assert x.shape == (4, 1, 16_000) and x.dtype == torch.float32 and sorted(y.tolist()) == [3, 3, 7, 7]
    # 8 kHz recordings are resampled to 16 kHz: a digit-3 tone stays at 500 Hz, and a 0.9 s clip is centred.
    assert dominant_hz(x[y == 3][0, 0]) == pytest.approx(500, abs=2)
    long_clip = x[(y == 7)][1, 0]  # index 6: 0.9 s
    assert long_clip[:700].abs().max() == 0 and long_clip[15_300:].abs().max() == 0
    assert long_clip[1_000:15_000].abs().max() > 0.4
    test_x, test_y = dataset.load("theo", "test").tensors  # recordings 0-4
    assert test_x.shape == (4, 1, 16_000) and sorted(test_y.tolist()) == [3, 3, 7, 7]
    assert verify(dataset) == []


def test_fsdd_an_unreadable_clip_is_named_in_one_line(server, tmp_path, monkeypatch):
    from dabench.data.fsdd import RELEASE, SPEAKERS

    served, url = server
    members = {f"{RELEASE}/recordings/1_{s}_{i}.wav": wav_bytes(tone(300, 0.5, 8_000), 8_000)
               for s in SPEAKERS for i in (0, 5)}
    members[f"{RELEASE}/recordings/1_george_5.wav"] = b"RIFF not really a wave file"
    serve_archive("fsdd", members, served, url, monkeypatch,
                  {f"{s}/{split}": 1 for s in SPEAKERS for split in ("train", "test")})
    dataset = DATASETS.build("fsdd", root=tmp_path)
    prepare(dataset, progress=False)
    with pytest.raises(DabenchError, match=r"cannot read audio file .*1_george_5\.wav \(.*\); it is corrupt") as err:
        dataset.load("george", "train")
    assert "\n" not in str(err.value)


SPEAKERS = {"0a11aa11": "a", "3c33cc33": "a", "9b22bb22": "b", "f0ff00ff": "b"}
TESTING = ("3c33cc33", "f0ff00ff")  # speaker-disjoint, as in the release


def speech_commands_members() -> dict[str, bytes]:
    members = {}
    for k, word in enumerate(("yes", "no", "cat")):
        for speaker in SPEAKERS:
            for n in range(2):
                members[f"{word}/{speaker}_nohash_{n}.wav"] = wav_bytes(tone(400 + 200 * k + 20 * n, 0.8, 16_000), 16_000)
    members["testing_list.txt"] = "\n".join(f"{w}/{s}_nohash_{n}.wav" for w in ("yes", "no", "cat")
                                            for s in TESTING for n in range(2)).encode()
    members["validation_list.txt"] = b"yes/0a11aa11_nohash_1.wav\n"
    noise = np.random.default_rng(0).standard_normal(40_000).astype(np.float32) * 0.2
    members["_background_noise_/white_noise.wav"] = wav_bytes(noise, 16_000)
    members["_background_noise_/README.md"] = b"noise"
    return members


def test_speech_commands_domains_are_speaker_groups_and_noise_at_the_stated_snr(server, tmp_path, monkeypatch):
    served, url = server
    serve_archive("speech_commands", speech_commands_members(), served, url, monkeypatch)
    dataset = DATASETS.build({"name": "speech_commands", "snr_db": 5.0}, root=tmp_path)
    assert dataset.num_classes == 10 and dataset.class_names[:2] == ("yes", "no")
    prepare(dataset, progress=False)
    paths, labels = dataset.split_samples("a_clean", "train")
    # group a's training speaker only; its clip on the validation list is in neither split; "cat" is not a keyword
    assert sorted(p.split("/")[-2] + "/" + p.split("/")[-1] for p in paths) == [
        "no/0a11aa11_nohash_0.wav", "no/0a11aa11_nohash_1.wav", "yes/0a11aa11_nohash_0.wav"]
    assert {p.split("/")[-1][:8] for p in dataset.split_samples("a_clean", "test")[0]} == {"3c33cc33"}
    assert {p.split("/")[-1][:8] for p in dataset.split_samples("b_noisy", "train")[0]} == {"9b22bb22"}
    clean, y = dataset.load("b_clean", "test").tensors
    noisy, y_noisy = dataset.load("b_noisy", "test").tensors
    assert clean.shape == noisy.shape == (4, 1, 16_000) and torch.equal(y, y_noisy)
    noise = noisy - clean
    snr = 10 * torch.log10(clean.square().mean(dim=(1, 2)) / noise.square().mean(dim=(1, 2)))
    assert torch.allclose(snr, torch.full_like(snr, 5.0), atol=1e-3)
    assert torch.equal(dataset.load("b_noisy", "test").tensors[0], noisy)  # the same mix every time
    everything = DATASETS.build({"name": "speech_commands", "words": "all"}, root=tmp_path)
    _, labels = everything.split_samples("a_clean", "train")
    assert everything.num_classes == 35 and everything.class_names.index("cat") in labels


def test_speech_commands_unknown_word_set_lists_the_known_ones(tmp_path):
    with pytest.raises(DabenchError, match=r"unknown words 'twelve'; known: ten, all"):
        DATASETS.build({"name": "speech_commands", "words": "twelve"}, root=tmp_path)


def test_audio_folder_reads_any_domain_class_wav_tree(tmp_path, capsys):
    root = make_audio_folder_domains(tmp_path / "clips", per_class=3)
    dataset = DATASETS.build({"name": "audio_folder", "path": str(root)}, root=tmp_path / "data")
    assert dataset.domains == ("loud", "quiet") and dataset.class_names == ("high", "low")
    x, y = dataset.load("quiet", "train").tensors
    assert x.shape == (6, 1, 16_000) and sorted(y.tolist()) == [0, 0, 0, 1, 1, 1]
    assert dominant_hz(x[y == 1][0, 0]) == pytest.approx(300, abs=2)  # class "low" = label 1: 300 Hz
    assert dataset.verify() == []
    held_out = DATASETS.build({"name": "audio_folder", "path": str(root), "test_fraction": 1 / 3}, root=tmp_path / "d")
    train, test = (held_out.load("loud", split).tensors[1] for split in ("train", "test"))
    assert len(train) == 4 and len(test) == 2 and sorted(test.tolist()) == [0, 1]
    victim = root / "loud" / "high" / "1.wav"
    victim.write_bytes(b"garbage")
    assert [p for p in dataset.verify() if "1.wav: not a readable audio" in p]
    assert main(["data", "verify", "audio_folder", "--path", str(root)]) == 2
    assert f"audio_folder: replace or delete them in your folder {root}" in capsys.readouterr().err


@pytest.mark.parametrize("samples, problem", [(np.zeros(0, dtype="float32"), "holds no samples (0 frames)"),
                                              (np.full(1600, np.nan, dtype="float32"), "holds NaN or infinite")])
def test_an_empty_or_nan_clip_is_reported_by_verify_and_refused_by_training(samples, problem, tmp_path):
    import soundfile

    root = make_audio_folder_domains(tmp_path / "clips", per_class=1)
    victim = root / "quiet" / "low" / "0.wav"
    soundfile.write(victim, samples, 16_000, subtype="FLOAT")
    dataset = DATASETS.build({"name": "audio_folder", "path": str(root)}, root=tmp_path / "data")
    assert [p for p in dataset.verify() if f"0.wav: not a readable audio (audio file {victim} {problem}" in p]
    with pytest.raises(DabenchError, match=re.escape(f"audio file {victim} {problem}")):
        dataset.load("quiet", "train")


def test_audio_folder_needs_a_folder(tmp_path):
    with pytest.raises(DabenchError, match=r"dataset 'audio_folder' needs path=<a folder of domains>, got ''"):
        DATASETS.build({"name": "audio_folder"}, root=tmp_path)
