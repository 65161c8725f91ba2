"""Speech backbones: a log-mel front end computed on the model's device, then a small CNN.

Data modules hand waveforms (N, 1, samples) at 16 kHz; the front end is the backbone's first
layer, so it runs on the GPU with the rest and every method sees the same features.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from dabench.errors import DabenchError
from dabench.models.backbones import BACKBONES, FeatureExtractor


class LogMel(nn.Module):
    """(N, 1, samples) waveform -> (N, 1, n_mels, frames) log mel power spectrogram.

    |STFT|^2 with a periodic Hann window of n_fft samples, hop `hop` samples, centred frames
    (zero-padded), mapped by librosa's mel filterbank (Slaney scale and normalisation), then
    log(mel + 1e-6). The same numbers as ``librosa.feature.melspectrogram`` (tests check it).
    """

    def __init__(self, sample_rate: int = 16_000, n_fft: int = 512, hop: int = 160, n_mels: int = 40):
        super().__init__()
        try:
            import librosa
        except ImportError:
            raise DabenchError("the log-mel front end needs librosa: pip install librosa (or "
                               "pip install -e '.[speech]')") from None
        self.n_fft, self.hop = n_fft, hop
        mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)
        self.register_buffer("mel", torch.as_tensor(mel, dtype=torch.float32), persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def power_mel(self, waveform: Tensor) -> Tensor:
        """(N, samples) -> (N, n_mels, frames) mel power, float32 (the STFT is not run in bf16)."""
        spectrum = torch.stft(waveform.float(), self.n_fft, self.hop, window=self.window, center=True,
                              pad_mode="constant", return_complex=True)
        return self.mel @ spectrum.abs().square()

    def forward(self, waveform: Tensor) -> Tensor:
        return torch.log(self.power_mel(waveform.flatten(1)) + 1e-6).unsqueeze(1)


@BACKBONES.register("kws_cnn", example_input=(1, 16_000))
def kws_cnn(input_shape: tuple[int, ...], n_mels: int = 40, width: int = 64) -> FeatureExtractor:
    """Keyword-spotting CNN over log-mel: four conv3x3-BN-ReLU blocks (`width` channels; max-pool
    after the first three), global average pooling, `width` features. Input: one-channel 16 kHz
    waveforms (1, samples), e.g. one second (1, 16000)."""
    if len(input_shape) != 2 or input_shape[0] != 1:
        raise DabenchError(f"backbone 'kws_cnn' expects one-channel waveforms (1, samples), the data gives "
                           f"{tuple(input_shape)}; use a speech dataset")

    def block(c_in: int, pool: bool) -> list[nn.Module]:
        return [nn.Conv2d(c_in, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                *([nn.MaxPool2d(2)] if pool else [])]

    return FeatureExtractor(width, LogMel(n_mels=n_mels), nn.BatchNorm2d(1), *block(1, True), *block(width, True),
                            *block(width, True), *block(width, False), nn.AdaptiveAvgPool2d(1), nn.Flatten())
