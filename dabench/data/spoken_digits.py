"""spoken_digits_synth: the digits 0-9 spoken by eSpeak NG voices, in three domains (male voices,
female voices, male voices in a noisy reverberant room); see dabench.data.speech_synth.

SYNTHETIC SPEECH, made on this machine: a stand-in for recorded corpora (Speech Commands, Free
Spoken Digit) that cannot be downloaded here, with domain shifts of the same kinds (voice
family; room and noise). The corpus is written on first use into
``$DABENCH_CACHE/spoken_digits_synth`` (about a minute; ``dabench data synth-speech`` does it
ahead) or read from ``path``. Every file is checked against the sha256 in its manifest.

Samples are one-second 16 kHz waveforms, (1, 16000) float32 in [-1, 1]; use a speech backbone
(``kws_cnn``). Sizes: male 720, female 450, male_room 720 (10 words x voices x 3 rates x 3
pitches). Protocol: transductive (a domain's train and test splits are the same samples), as
for the other small offline datasets.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from filelock import FileLock

from dabench.data.base import DATASETS, DomainDataset, cache_dir, tensor_dataset
from dabench.data.checksums import file_sha256, sha256_of
from dabench.data.speech_synth import DOMAINS, SAMPLE_RATE, WORDS, write_corpus
from dabench.errors import DabenchError
from dabench.io import DamagedFile, read_json


@DATASETS.register("spoken_digits_synth")
class SpokenDigitsSynth(DomainDataset):
    modality = "audio"
    domains = tuple(DOMAINS)
    num_classes = len(WORDS)
    class_names = WORDS
    input_shape = (1, SAMPLE_RATE)
    transductive = True
    protocol = ("transductive: train and test are the whole domain; SYNTHETIC speech (eSpeak NG voices, "
                "dabench.data.speech_synth), generated on this machine")
    citation = "synthetic: eSpeak NG (https://github.com/espeak-ng/espeak-ng), dabench.data.speech_synth"
    licence = "generated locally; eSpeak NG is GPL-3.0 (the audio it produces is not restricted)"

    def __init__(self, root=None, path: str | None = None):
        super().__init__(root)
        self.corpus = Path(path).expanduser() if path else cache_dir() / "spoken_digits_synth"

    def missing_files(self, domain: str) -> list[str]:
        return []  # generated on first use

    def written_files(self) -> dict[str, str] | None:
        """The corpus files and their sha256 (manifest.json), None if no corpus is written; a damaged manifest
        is a DabenchError that says how to write the corpus again."""
        manifest_path = self.corpus / "manifest.json"
        if not manifest_path.is_file():
            return None
        try:
            files = read_json(manifest_path).get("files")
        except DamagedFile as err:
            raise DabenchError(f"spoken_digits_synth: {err}; delete {self.corpus} to write the corpus again") from None
        if not isinstance(files, dict) or not all(isinstance(d, str) for d in files.values()):
            raise DabenchError(f"spoken_digits_synth: {manifest_path} has no valid 'files' map (file -> sha256); "
                               f"delete {self.corpus} to write the corpus again")
        return files

    def present(self, domain: str) -> bool:
        try:
            files = self.written_files()
        except DabenchError:  # damaged: not usable as it is (verify and load say why)
            return False
        return files is not None and any(name.startswith(f"{domain}/") for name in files)

    def fetch_command(self) -> str:
        return "`dabench data synth-speech`"

    def repair_hint(self) -> str:
        return f"delete {self.corpus}: the corpus is written again on first use"

    def verify(self) -> list[str]:
        """Files of a written corpus whose sha256 differs from its manifest (none written: nothing to check)."""
        try:
            files = self.written_files()
        except DabenchError as err:
            return [str(err)]
        if files is None:
            return []
        return [f"{self.corpus / name}: sha256 {sha256_of(self.corpus / name) if (self.corpus / name).is_file() else 'missing'}"
                f", expected {digest}" for name, digest in files.items()
                if not (self.corpus / name).is_file() or sha256_of(self.corpus / name) != digest]

    def corpus_files(self) -> dict[str, str]:
        """The corpus files and their sha256, writing the corpus first if it is absent (once, under a lock)."""
        manifest_path = self.corpus / "manifest.json"
        self.corpus.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.corpus) + ".lock"):
            if not manifest_path.exists():
                write_corpus(self.corpus)
        return self.written_files()

    def load(self, domain, split):
        import soundfile

        self.check_domain(domain)
        files = self.corpus_files()
        names = sorted(name for name in files if name.startswith(f"{domain}/"))
        if not names:
            raise DabenchError(f"spoken_digits_synth: {self.corpus} has no '{domain}' files; delete the folder (it "
                               f"is written again) or run `dabench data synth-speech --out {self.corpus}`")
        waves, labels = [], []
        for name in names:
            path = self.corpus / name
            digest = file_sha256(path) if path.is_file() else "missing"  # hashed once per file version
            if digest != files[name]:
                raise DabenchError(f"spoken_digits_synth: {path} has sha256 {digest}, its manifest says "
                                   f"{files[name]}; delete {self.corpus} to write the corpus again")
            try:
                wave, rate = soundfile.read(path, dtype="float32")
            except RuntimeError as err:
                raise DabenchError(f"spoken_digits_synth: cannot read {path} ({err})") from None
            if rate != SAMPLE_RATE or wave.shape != (SAMPLE_RATE,):
                raise DabenchError(f"spoken_digits_synth: {path} is {wave.shape} at {rate} Hz, expected "
                                   f"({SAMPLE_RATE},) at {SAMPLE_RATE} Hz; delete {self.corpus} to write it again")
            waves.append(wave)
            labels.append(int(Path(name).parent.name))
        self.used_files[str(self.corpus / "manifest.json")] = sha256_of(self.corpus / "manifest.json")
        return tensor_dataset(torch.from_numpy(np.stack(waves)[:, None]), torch.tensor(labels))
