"""Chapter 00's signals (cnnlib.chapters.ch00_introduction.signals): the mel filterbank against closed-form
properties, spectrograms of known tones, the text convolution."""

import math

import pytest
import torch
import torch.nn as nn

from cnnlib.chapters.ch00_introduction import signals
from cnnlib.testing import assert_close_up_to_rounding

SR, N_FFT, N_MELS = 16_000, 512, 40


def test_mel_scale_anchors_and_inverse():
    assert signals.hz_to_mel(0.0).item() == 0.0
    assert signals.hz_to_mel(1000.0).item() == pytest.approx(1000.0, abs=0.1)  # the HTK scale's anchor
    f = torch.tensor([20.0, 440.0, 3000.0, 8000.0])
    assert torch.allclose(signals.mel_to_hz(signals.hz_to_mel(f)), f.double())  # float64: rtol 1e-5 is ~1e11 ulps


def test_filterbank_shape_peaks_and_partition_of_unity():
    fb = signals.mel_filterbank(N_MELS, N_FFT, SR).double()
    assert fb.shape == (N_MELS, N_FFT // 2 + 1) and fb.min() >= 0 and fb.max() <= 1
    bins = torch.linspace(0, SR / 2, N_FFT // 2 + 1, dtype=torch.float64)
    edges = signals.mel_to_hz(torch.linspace(0, signals.hz_to_mel(SR / 2).item(), N_MELS + 2, dtype=torch.float64))
    # each filter is zero outside its two neighbours' centres ...
    for m in range(N_MELS):
        outside = (bins <= edges[m]) | (bins >= edges[m + 2])
        assert fb[m, outside].abs().max() == 0
    # ... and adjacent triangles are complementary: between the first and the last centre they sum to exactly 1
    inside = (bins >= edges[1]) & (bins <= edges[-2])
    # two float32 triangle values per bin, each rounded by ~6e-8: atol 1e-6 on a sum of size 1 is ~16 ulps of float32
    assert torch.allclose(fb[:, inside].sum(0), torch.ones(int(inside.sum()), dtype=torch.float64), atol=1e-6)
    # centres are equally spaced on the mel scale, so filters get wider in Hz as frequency rises
    widths = (fb > 0).sum(1)
    assert widths[-1] > 4 * widths[5]


def test_filterbank_refuses_bad_arguments():
    with pytest.raises(ValueError, match="f_max"):
        signals.mel_filterbank(10, 512, 16_000, f_max=9000)
    with pytest.raises(ValueError, match="n_mels"):
        signals.mel_filterbank(0, 512, 16_000)


def test_tone_lands_in_the_right_bin_and_band():
    t = torch.arange(SR) / SR
    tone = torch.sin(2 * math.pi * 1000.0 * t)
    power = signals.power_spectrogram(tone, N_FFT, 128)
    assert power.shape == (N_FFT // 2 + 1, SR // 128 + 1)
    assert power.mean(1).argmax().item() == round(1000 * N_FFT / SR)  # bin 32 = 1,000 Hz
    mel = signals.mel_spectrogram(tone, SR, N_FFT, 128, N_MELS)
    centres = signals.mel_to_hz(torch.linspace(0, signals.hz_to_mel(SR / 2).item(), N_MELS + 2))[1:-1]
    assert mel.mean(1).argmax().item() == (centres - 1000).abs().argmin().item()
    db = signals.power_to_db(mel)
    assert db.max().item() == 0 and db.min().item() >= -80


def test_spectrogram_refuses_bad_signals():
    with pytest.raises(ValueError, match="1-D"):
        signals.power_spectrogram(torch.zeros(2, 1000))
    with pytest.raises(ValueError, match="shorter"):
        signals.power_spectrogram(torch.zeros(100), n_fft=512)


def test_chirp_frequency_glides():
    x = signals.chirp(500.0, 4000.0, 1.0, SR)
    power = signals.power_spectrogram(x, N_FFT, 128)
    peak_hz = power.argmax(0).double() * SR / N_FFT
    assert peak_hz[10].item() == pytest.approx(500 + 3500 * 10 * 128 / SR, abs=2 * SR / N_FFT)
    assert (peak_hz[5:-5].diff() >= 0).all()


def test_synthetic_audio_and_edge_kernels():
    x, contents = signals.synthetic_audio()
    assert x.shape == (32_000,) and len(contents) == 5
    db = signals.power_to_db(signals.mel_spectrogram(x, SR, N_FFT, 128, 64))
    out, layer = signals.time_and_frequency_edges(db)
    assert out.shape == (2, *db.shape) and isinstance(layer, nn.Conv2d)
    frames_per_s = SR / 128
    band_440 = (signals.mel_to_hz(torch.linspace(0, signals.hz_to_mel(SR / 2).item(), 66))[1:-1] - 440).abs().argmin()
    steady = out[0, band_440, int(0.6 * frames_per_s) : int(1.0 * frames_per_s)].abs().mean()
    onset = out[0, :, int(1.1 * frames_per_s) - 3 : int(1.1 * frames_per_s) + 3].max()  # the click at 1.1 s
    assert onset > 10 * steady, "the time-derivative kernel ignores a steady tone and fires on an onset"


def test_text_convolution_shapes_and_values():
    tokens = signals.tokenize("The main sight of the city is the cathedral on the central square and a beautiful park.")
    assert len(tokens) == 17 and tokens[0] == tokens[4] == "the"
    emb = signals.word_embeddings(tokens, dim=4, seed=0)
    assert emb.shape == (17, 4) and torch.equal(emb[0], emb[4])  # same word, same vector
    torch.manual_seed(0)  # the test does not depend on the random state the tests before it left
    conv = nn.Conv1d(4, 3, kernel_size=3)
    with torch.no_grad():
        features = signals.conv1d_over_words(emb, conv)
        assert features.shape == (3, 15)
        # kernel 2 at every position (position 5: "city is the"), summed by hand; compared as a whole row,
        # so that the rounding tolerance follows the row's scale, not one output that happens to be near 0
        by_hand = torch.stack([conv.bias[1] + (conv.weight[1] * emb[i : i + 3].T).sum() for i in range(15)])
    assert_close_up_to_rounding(features[1], by_hand, terms=4 * 3, what="conv1d output and the sum by hand")
    values, positions = signals.max_over_time(features)
    assert torch.equal(values, features.max(1).values) and torch.equal(features[torch.arange(3), positions], values)


def test_text_convolution_refuses_mismatches():
    emb = torch.randn(5, 4)
    with pytest.raises(ValueError, match="input channels"):
        signals.conv1d_over_words(emb, nn.Conv1d(3, 2, 3))
    with pytest.raises(ValueError, match="fewer"):
        signals.conv1d_over_words(emb[:2], nn.Conv1d(4, 2, 3))
    with pytest.raises(ValueError, match="no words"):
        signals.tokenize("?!")
