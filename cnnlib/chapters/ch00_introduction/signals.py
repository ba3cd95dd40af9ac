"""CNNs beyond images: sentences as sequences of word vectors, sounds as mel-spectrograms.

Text: a sentence becomes an L x D matrix (one D-dimensional embedding per word); a 1-D
convolution slides kernels of k words along it, and max-over-time pooling keeps each
kernel's strongest response, a fixed-size vector whatever the sentence length
(Collobert et al. 2011, https://arxiv.org/abs/1103.0398; Kim 2014, https://arxiv.org/abs/1408.5882).

Audio: the short-time Fourier transform (``torch.stft``) turns a waveform into a
frequency x time power map; a mel filterbank pools the frequency bins into bands equally
spaced on the mel scale (HTK formula, mel = 2595 log10(1 + f / 700)); in decibels this
is an image a 2-D CNN can read (e.g. Hershey et al. 2017, https://arxiv.org/abs/1609.09430).
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn as nn
from torch import Tensor

__all__ = [
    "chirp",
    "conv1d_over_words",
    "hz_to_mel",
    "max_over_time",
    "mel_filterbank",
    "mel_spectrogram",
    "mel_to_hz",
    "power_spectrogram",
    "power_to_db",
    "synthetic_audio",
    "time_and_frequency_edges",
    "tokenize",
    "word_embeddings",
]


# --------------------------------------------------------------------------- text


def tokenize(sentence: str) -> list[str]:
    """Lower-case words of a sentence (punctuation dropped): the units a word-level text CNN sees."""
    tokens = re.findall(r"[\w'-]+", sentence.lower())
    if not tokens:
        raise ValueError(f"no words in {sentence!r}")
    return tokens


def word_embeddings(tokens: list[str], dim: int = 4, seed: int = 0) -> Tensor:
    """An L x ``dim`` matrix: one random (seeded) vector per distinct word, the same word getting the same vector.

    A stand-in for learned embeddings (word2vec, or an ``nn.Embedding`` trained with the CNN):
    the shapes and the convolution are the same, the numbers carry no meaning.
    """
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    vocabulary = sorted(set(tokens))
    table = torch.randn(len(vocabulary), dim, generator=torch.Generator().manual_seed(seed))
    index = {w: i for i, w in enumerate(vocabulary)}
    return table[[index[t] for t in tokens]]


def conv1d_over_words(embeddings: Tensor, conv: nn.Conv1d) -> Tensor:
    """Slide ``conv`` along the words: L x D embeddings -> C x (L - k + 1) feature map (no padding, stride 1
    unless set).

    PyTorch's ``Conv1d`` wants N x D x L (the embedding dimension plays the role of the
    colour channels, the words the role of the pixels), hence the transpose.
    """
    if embeddings.dim() != 2:
        raise ValueError(f"embeddings must be L x D (words x embedding size), got shape {tuple(embeddings.shape)}")
    length, dim = embeddings.shape
    if dim != conv.in_channels:
        raise ValueError(
            f"embeddings have {dim} dimensions but the convolution expects {conv.in_channels} input channels"
        )
    padding = conv.padding[0] if isinstance(conv.padding, tuple) else 0  # "same" padding never runs short
    if length + 2 * padding < conv.kernel_size[0]:
        raise ValueError(f"{length} words are fewer than the kernel size {conv.kernel_size[0]}")
    return conv(embeddings.T.unsqueeze(0))[0]  # 1 x D x L -> 1 x C x L' -> C x L'


def max_over_time(features: Tensor) -> tuple[Tensor, Tensor]:
    """Max-over-time pooling of a C x T feature map: each kernel's largest response and where it occurred."""
    if features.dim() != 2:
        raise ValueError(f"features must be C x T, got shape {tuple(features.shape)}")
    values, positions = features.max(dim=1)
    return values, positions


# --------------------------------------------------------------------------- audio


def hz_to_mel(f: Tensor | float) -> Tensor:
    """HTK mel scale: 2595 log10(1 + f / 700) (O'Shaughnessy 1987); 1000 Hz -> 1000 mel."""
    f = torch.as_tensor(f, dtype=torch.float64)
    return 2595.0 * torch.log10(1.0 + f / 700.0)


def mel_to_hz(m: Tensor | float) -> Tensor:
    """Inverse of :func:`hz_to_mel`."""
    m = torch.as_tensor(m, dtype=torch.float64)
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None) -> Tensor:
    """Triangular mel filters as an ``n_mels x (n_fft // 2 + 1)`` matrix (float32), to multiply a power spectrogram.

    The ``n_mels + 2`` edge frequencies are equally spaced in mel between ``f_min`` and ``f_max``
    (default: the Nyquist frequency); filter m rises linearly in Hz from edge m to edge m+1 and falls
    to edge m+2. No area normalisation (torchaudio's ``melscale_fbanks(norm=None, mel_scale="htk")``).
    Between the first and the last filter's peak the filters sum to exactly 1 at every frequency.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if n_mels < 1 or n_fft < 2 or sample_rate <= 0:
        raise ValueError(f"need n_mels >= 1, n_fft >= 2, sample_rate > 0; got {n_mels}, {n_fft}, {sample_rate}")
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(
            f"need 0 <= f_min < f_max <= sample_rate / 2 = {sample_rate / 2}; got f_min={f_min}, f_max={f_max}"
        )
    bins_hz = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)  # frequency of each FFT bin
    edges = mel_to_hz(torch.linspace(hz_to_mel(f_min).item(), hz_to_mel(f_max).item(), n_mels + 2, dtype=torch.float64))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # n_mels x 1 each
    rising = (bins_hz - lower) / (centre - lower)
    falling = (upper - bins_hz) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


def power_spectrogram(signal: Tensor, n_fft: int = 512, hop_length: int = 128) -> Tensor:
    """|STFT|^2 of a 1-D signal with a Hann window: ``(n_fft // 2 + 1) x frames`` (frequency x time)."""
    if signal.dim() != 1:
        raise ValueError(f"signal must be 1-D (mono samples), got shape {tuple(signal.shape)}")
    if signal.numel() < n_fft:
        raise ValueError(f"signal of {signal.numel()} samples is shorter than one window of n_fft={n_fft}")
    window = torch.hann_window(n_fft, dtype=signal.dtype)
    stft = torch.stft(signal, n_fft=n_fft, hop_length=hop_length, window=window, center=True, return_complex=True)
    return stft.abs() ** 2


def mel_spectrogram(
    signal: Tensor,
    sample_rate: int,
    n_fft: int = 512,
    hop_length: int = 128,
    n_mels: int = 64,
    f_min: float = 0.0,
    f_max: float | None = None,
) -> Tensor:
    """Mel power spectrogram ``n_mels x frames``: the mel filterbank applied to the power spectrogram."""
    power = power_spectrogram(signal, n_fft, hop_length)
    return mel_filterbank(n_mels, n_fft, sample_rate, f_min, f_max).to(power.dtype) @ power


def power_to_db(power: Tensor, top_db: float = 80.0) -> Tensor:
    """10 log10(power / max), clipped ``top_db`` decibels below the maximum (0 dB = the loudest cell)."""
    db = 10.0 * torch.log10(torch.clamp(power, min=1e-12) / power.max().clamp(min=1e-12))
    return torch.clamp(db, min=-top_db)


def chirp(f0: float, f1: float, seconds: float, sample_rate: int) -> Tensor:
    """A linear chirp: a sine whose frequency glides from ``f0`` to ``f1`` Hz over ``seconds``."""
    t = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    phase = 2 * math.pi * (f0 * t + (f1 - f0) / (2 * seconds) * t**2)  # integral of the instantaneous frequency
    return torch.sin(phase).float()


def synthetic_audio(sample_rate: int = 16_000, seconds: float = 2.0, seed: int = 0) -> tuple[Tensor, list[str]]:
    """A small test sound and what it contains: a chirp, two steady tones, three clicks and faint noise.

    - 0.0-1.0 s: a chirp gliding from 300 Hz to 3,000 Hz;
    - 0.4-2.0 s: a steady 440 Hz tone; 1.2-2.0 s: a steady 1,500 Hz tone;
    - clicks (5 ms bursts of white noise, all frequencies at once) at 1.1, 1.4 and 1.7 s;
    - white noise 40 dB below the tones throughout.
    """
    n = int(seconds * sample_rate)
    t = torch.arange(n, dtype=torch.float64) / sample_rate
    gen = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, dtype=torch.float64)
    x[:sample_rate] += 0.5 * chirp(300.0, 3000.0, 1.0, sample_rate).double()[: min(n, sample_rate)]
    x += 0.4 * torch.sin(2 * math.pi * 440.0 * t) * (t >= 0.4)
    x += 0.3 * torch.sin(2 * math.pi * 1500.0 * t) * (t >= 1.2)
    click = int(0.005 * sample_rate)
    for onset in (1.1, 1.4, 1.7):
        i = int(onset * sample_rate)
        x[i : i + click] += 0.8 * torch.randn(len(x[i : i + click]), generator=gen, dtype=torch.float64)
    x += 0.004 * torch.randn(n, generator=gen, dtype=torch.float64)
    contents = [
        "chirp 300 -> 3,000 Hz, 0.0-1.0 s",
        "tone 440 Hz from 0.4 s",
        "tone 1,500 Hz from 1.2 s",
        "clicks at 1.1, 1.4, 1.7 s",
        "faint white noise",
    ]
    return x.float(), contents


def time_and_frequency_edges(spectrogram_db: Tensor) -> tuple[Tensor, nn.Conv2d]:
    """A tiny 2-D CNN layer on a (dB) spectrogram: two hand-set 3 x 3 kernels, as a trained first layer often has.

    Kernel 1 is a derivative along time (later minus earlier frame, averaged over three bands): it
    responds where a sound starts (+) or stops (-), and not to a steady tone. Kernel 2 is the same
    along frequency: it outlines the top and bottom of every horizontal line (tones, the chirp).
    Edges are replicated, not zero-padded (zero would be the loudest value on a dB scale).
    Returns the ``2 x bands x frames`` output and the layer.
    """
    if spectrogram_db.dim() != 2:
        raise ValueError(f"spectrogram must be bands x frames, got shape {tuple(spectrogram_db.shape)}")
    conv = nn.Conv2d(1, 2, kernel_size=3, padding=1, padding_mode="replicate", bias=False)
    derivative = torch.tensor([[-1.0, 0.0, 1.0]]).repeat(3, 1) / 3  # rows: frequency, columns: time
    with torch.no_grad():
        conv.weight.copy_(torch.stack([derivative, derivative.T])[:, None])
        out = conv(spectrogram_db[None, None].float())[0]  # 1 x 1 x F x T -> 2 x F x T
    return out, conv
