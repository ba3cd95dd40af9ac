"""The speed-run's pieces on small inputs, and a quick run end to end (seconds)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from cnnlib import data, experiments
from cnnlib.chapters.ch09_classics_today import speedrun as sr
from cnnlib.models.speedrun import ShiftOnlyBatchNorm, SpeedrunBlock, SpeedrunNet, whitening_init_


def correlated_images(n: int = 64, seed: int = 0) -> torch.Tensor:
    """Smooth random images: neighbouring pixels and channels strongly correlated, like photos."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, 1, 8, 8, generator=g)
    smooth = nn.functional.interpolate(base, size=(32, 32), mode="bilinear", align_corners=False)
    colour = torch.tensor([1.0, 0.8, 0.6]).view(1, 3, 1, 1)
    return smooth * colour + 0.1 * torch.randn(n, 3, 32, 32, generator=g)


def test_whitening_init_decorrelates_the_patches():
    images = correlated_images()
    conv = nn.Conv2d(3, 24, 2, bias=True)
    eigenvalues = whitening_init_(conv, images, eps=1e-6)
    assert torch.all(eigenvalues[:-1] >= eigenvalues[1:])  # largest first
    with torch.no_grad():
        out = conv(images)[:, :12]  # the first half: the scaled eigenvectors
    flat = out.permute(0, 2, 3, 1).reshape(-1, 12)
    covariance = flat.T @ flat / flat.shape[0]
    assert torch.allclose(covariance, torch.eye(12), atol=2e-2)
    assert torch.equal(conv.weight[12:], -conv.weight[:12]) and torch.all(conv.bias == 0)
    with pytest.raises(ValueError, match="24 output channels"):
        whitening_init_(nn.Conv2d(3, 12, 2), images)


def test_blocks_start_as_the_identity_and_bn_trains_only_its_shift():
    block = SpeedrunBlock(8, 8)
    x = torch.randn(2, 8, 6, 6)
    assert torch.equal(block.conv2(x), x)  # dirac initialisation
    wider = SpeedrunBlock(4, 8).conv1(x[:, :4])
    assert torch.equal(wider[:, :4], x[:, :4])  # the first in_channels filters pass their channel on
    bn = ShiftOnlyBatchNorm(8)
    assert not bn.weight.requires_grad and bn.bias.requires_grad and bn.eps == 1e-12


def test_network_shapes_parameters_and_bad_input():
    net = SpeedrunNet()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in net.parameters()) == 1_972_792
    assert not net.whiten.weight.requires_grad
    with pytest.raises(ValueError, match="32"):
        net(torch.randn(2, 3, 28, 28))


def test_alternating_flips_alternate_and_random_ones_do_not():
    g = torch.Generator().manual_seed(0)
    first = torch.rand(1000, generator=g) < 0.5
    masks = [sr.flip_mask(1000, epoch, "alternating", g, first) for epoch in range(4)]
    assert torch.equal(masks[0], first) and torch.equal(masks[1], ~first) and torch.equal(masks[2], first)
    assert torch.all(masks[0] ^ masks[1])  # every image flipped in exactly one of two consecutive epochs
    fresh = [sr.flip_mask(1000, epoch, "random", g) for epoch in range(2)]
    assert 0.4 < (fresh[0] ^ fresh[1]).float().mean() < 0.6  # a coin per epoch: half change sides
    assert not sr.flip_mask(10, 0, "none", g).any()
    with pytest.raises(ValueError, match="first-epoch mask"):
        sr.flip_mask(10, 1, "alternating", g)


def test_translate_crops_are_windows_of_the_padded_images():
    g = torch.Generator().manual_seed(0)
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    padded = nn.functional.pad(images, (2, 2, 2, 2), mode="reflect")
    crops = sr.translate_crops(padded, 2, g)
    assert crops.shape == images.shape
    for i in range(2):
        windows = [padded[i, :, a : a + 8, b : b + 8] for a in range(5) for b in range(5)]
        assert any(torch.equal(crops[i], w) for w in windows)
    assert sr.translate_crops(images, 0, g) is images


def test_lookahead_moves_to_the_average_and_resets_the_model():
    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ahead = sr.Lookahead(model)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ahead.update(model, decay=0.75)
    assert torch.allclose(model.weight, torch.full((1, 2), 0.25))  # 0.75 * 0 + 0.25 * 1, copied back
    with torch.no_grad():
        model.weight.fill_(5.0)
    ahead.update(model, decay=1.0)  # the end of training: the average as it is
    assert torch.allclose(model.weight, torch.full((1, 2), 0.25))


def test_lr_schedule_is_airbench_triangle():
    s = sr.lr_schedule(100, (0.2, 0.25, 0.1))
    assert s[0].item() == pytest.approx(0.2) and s[25].item() == pytest.approx(1.0)
    assert s[100].item() == pytest.approx(0.1) and len(s) == 101
    assert torch.all(s[:26].diff() > 0) and torch.all(s[25:].diff() < 0)


class Mirrored(nn.Module):
    """A model that sees only the left-right symmetric part of its input."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3 * 8 * 8, 4)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.linear((x + x.flip(-1)).flatten(1))


def test_tta_levels():
    model, x = Mirrored(), torch.randn(5, 3, 8, 8)
    zero, one = sr.tta_logits(model, x, 0), sr.tta_logits(model, x, 1)
    assert torch.allclose(zero, one, atol=1e-6)  # a symmetric model gains nothing from the mirror
    model.calls = 0
    two = sr.tta_logits(model, x, 2)
    assert model.calls == 6 and two.shape == (5, 4)


def test_config_refuses_unknown_choices():
    with pytest.raises(ValueError, match="flip"):
        sr.SpeedrunConfig(flip="sometimes")
    with pytest.raises(ValueError, match="tta_level"):
        sr.SpeedrunConfig(tta_level=3)
    assert set(sr.ABLATIONS) and all(sr.SpeedrunConfig(**change) for change in sr.ABLATIONS.values())


def _tiny_data() -> tuple[data.ImageTensors, data.ImageTensors]:
    g = torch.Generator().manual_seed(0)
    spec = data.DATASETS["cifar10"]

    def split(n, name):
        images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
        labels = torch.randint(0, 10, (n,), generator=g)
        return data.ImageTensors(images=images, labels=labels, spec=spec, split=name, source="random")

    return split(256, "train"), split(64, "test")


def test_a_tiny_run_counts_its_flops_and_times_itself():
    train, test = _tiny_data()
    config = sr.SpeedrunConfig(epochs=2, batch_size=64, precision="fp32", whiten_bias_epochs=1)
    record = sr.speedrun(train, test, config, seed=0, log=None)
    assert record["steps"] == 8 and len(record["curve"]) == 2
    per_step = record["flops_per_step"]
    assert per_step["whitening bias trained"] > per_step["whitening frozen"] > 0
    expected = 4 * per_step["whitening bias trained"] + 4 * per_step["whitening frozen"]
    assert record["train_pflop"] == pytest.approx(expected / 1e15)
    assert record["achieved_tflops"] == pytest.approx(expected / record["train_seconds"] / 1e12, rel=0.01)  # s rounded
    assert 0 <= record["test_acc"] <= 1 and record["precision"]["autocast_dtype"] == "float32"
    # the forward pass of one image is 0.236 GFLOP; training a step costs about three forward passes
    assert 2.5 < per_step["whitening frozen"] / (64 * 0.2363e9) < 3.2


def test_conv_peak_is_measured_for_the_speedrun_shapes():
    peaks = sr.conv_peak_tflops(torch.float32, repeats=1)
    assert set(peaks) == {"64->256 @15", "256->256 @7", "256->256 @16, batch 256"} and min(peaks.values()) > 0


def test_quick_experiment_runs_and_is_not_stored(tmp_path, monkeypatch):
    monkeypatch.setenv(experiments.EXPERIMENTS_ENV, str(tmp_path))
    record = experiments.run("speedrun_cifar10", quick=True)
    assert record["quick"] and not list(tmp_path.iterdir())
    (run,) = record["result"]["runs"]
    assert run["train_pflop"] > 0 and "bfloat16" in record["result"]["peak_tflops"]


def test_every_ablation_is_its_own_experiment():
    names = [sr.ablation_experiment(label) for label in sr.ABLATIONS]
    assert names[0] == "speedrun_no_whitening_init" and len(set(names)) == len(names)
    assert all(name in experiments.EXPERIMENTS for name in names)
    with pytest.raises(KeyError, match="unknown ingredient"):
        sr.ablation_experiment("no such thing")


def _fake_run(seed: int, acc: float) -> dict:
    curve = [{"epoch": e, "step": 10 * e, "train_loss": 1.0 / e, "seconds": 40.0 * e, "test_acc": acc - 0.01 / e}
             for e in (1, 2)]  # fmt: skip
    return {"seed": seed, "test_acc": acc, "test_acc_no_tta": acc - 0.005, "train_seconds": 80.0,
            "images_per_second": 1000.0, "train_pflop": 0.3, "achieved_tflops": 0.8, "curve": curve,
            "precision": {"autocast_dtype": "bfloat16"},
            "hardware": "Intel(R) Xeon(R) Processor; 2 logical cores, torch threads 2; device cpu; "
                        "CPU capability AVX512; torch 2.14.1"}  # fmt: skip


def test_tables_and_figure_of_a_result():
    import matplotlib.pyplot as plt

    from cnnlib.chapters.ch09_classics_today.figures import plot_speedrun

    recipe = {
        "runs": [_fake_run(0, 0.94), _fake_run(1, 0.942)],
        "peak_tflops": {"float32": {"a": 0.4}, "bfloat16": {"a": 2.0}},
        "summary": {"test_acc_mean": 0.941, "train_seconds_mean": 80.0},
    }
    rows = sr.run_rows(recipe)
    assert sr.mean_step_seconds({**recipe, "config": {"batch_size": 500}}) == pytest.approx(0.5)
    assert rows[0]["acc"] == pytest.approx(94.0) and rows[0]["of_peak"] == pytest.approx(40.0)
    removed = {"runs": [_fake_run(0, 0.93)], "summary": {"test_acc_mean": 0.93, "train_seconds_mean": 79.0}}
    table = sr.ablation_rows({"no lookahead": removed}, recipe)
    assert [r["removed"] for r in table] == ["nothing (the recipe)", "no TTA (the recipe's runs)", "no lookahead"]
    assert table[2]["change"] == pytest.approx(-1.1) and table[0]["accs"] == pytest.approx([94.0, 94.2])
    assert table[1]["acc"] == pytest.approx(94.1 - 0.5)  # the runs' accuracy without TTA
    assert table[0]["machine"] == table[1]["machine"] == "Intel Xeon Processor (AVX512), bfloat16"
    avx2 = {"hardware": "AMD EPYC; 2 logical cores; device cpu; CPU capability AVX2; torch 2.14.1",
            "precision": {"autocast_dtype": None}}  # fmt: skip
    assert sr.run_machine(avx2) == "AMD EPYC (AVX2), float32"
    fig = plot_speedrun(recipe)
    assert len(fig.axes) == 2 and all(ax.get_title() for ax in fig.axes)
    plt.close(fig)


def test_findings_are_sentences_computed_from_the_records():
    peaks = {"float32": {"64->256 @15": 0.3, sr.PEAK_LARGER_LAYER: 0.4},
             "bfloat16": {"64->256 @15": 2.0, "256->256 @7": 2.5, sr.PEAK_LARGER_LAYER: 3.0}}  # fmt: skip
    recipe = {"runs": [_fake_run(0, 0.94), _fake_run(1, 0.942), _fake_run(2, 0.941)], "config": {"batch_size": 1000},
              "summary": {"test_acc_std": 0.001, "test_acc_mean": 0.941, "train_seconds_mean": 80.0},
              "peak_tflops": peaks}  # fmt: skip
    recipe["runs"][0]["flops_per_step"] = {"whitening frozen": 6e11}
    avx2 = "AMD EPYC; 2 logical cores; device cpu; CPU capability AVX2; torch 2.14.1"
    float32 = {"runs": [{**_fake_run(0, 0.9409), "precision": {"autocast_dtype": "float32"}, "hardware": avx2}]}

    def two_seeds(acc: float) -> dict:
        return {"runs": [_fake_run(0, acc - 0.0005), _fake_run(1, acc + 0.0005)],
                "summary": {"test_acc_mean": acc, "train_seconds_mean": 80.0}}  # fmt: skip

    removed = {"no lookahead": two_seeds(0.9395), "no whitening init": two_seeds(0.926)}
    noise, resolved, within, f32 = sr.ablation_findings(removed, recipe, float32)
    assert "sd 0.10 points" in noise and "about 0.09 points" in noise and "±0.18" in noise  # 0.1 * sqrt(5/6)
    # no TTA loses 0.50 points (each fake run's no-TTA accuracy), lookahead 0.15: inside ±0.18
    assert resolved == "resolved, largest loss first: no whitening init -1.50, no TTA (the recipe's runs) -0.50"
    assert within == "within the noise: no lookahead -0.15"
    assert "94.09 %, inside the range of its 3 runs above (94.00-94.20 %" in " ".join(f32.split())
    assert "AMD EPYC (AVX2), float32" in f32
    float32["runs"][0]["test_acc"] = 0.95
    assert sr.ablation_findings({}, recipe, float32)[0].split("%, ")[1].startswith("outside")
    profile = {"hardware": recipe["runs"][0]["hardware"],
               "result": {"parts": {"convolutions, forward": 0.2, "convolutions, backward": 0.4},
                          "precision": {"autocast_dtype": "bfloat16"}, "augment_epoch_seconds": 2.4,
                          "steps_per_epoch": 48, "step_seconds": 1.25}}  # fmt: skip
    lines = sr.profile_findings(profile, recipe)
    text = " ".join(" ".join(lines).split())
    assert "time: 1.00 TFLOP/s (bfloat16, Intel Xeon Processor)" in text  # 6e11 FLOP / 0.6 s
    assert "2.00-2.50 TFLOP/s on the network's shapes, 3.00 on a larger layer" in text
    assert "took 2.0x the forward's time" in text and "step (no data): 1.25 s" in text
    assert "augmentation (50 ms) included: 1.00 s" in text  # 1,000 images at 1,000 img/s
    printed = lines + [noise, resolved, within, f32]
    assert all(len(line) <= 100 for sentence in printed for line in sentence.splitlines())


def test_float32_experiment_forces_float32(monkeypatch):
    from cnnlib.chapters.ch09_classics_today import experiments as ch09

    calls = []
    monkeypatch.setattr(ch09, "speedrun_runs", lambda seeds, quick, precision: calls.append((seeds, precision)))
    experiments.get("speedrun_float32").fn(quick=True)
    assert calls == [((0,), "fp32")]


def test_quick_ablation_experiment_runs_and_is_not_stored(tmp_path, monkeypatch):
    monkeypatch.setenv(experiments.EXPERIMENTS_ENV, str(tmp_path))
    record = experiments.run(sr.ablation_experiment("no lookahead"), quick=True)
    result = record["result"]
    assert record["quick"] and not list(tmp_path.iterdir()) and result["config"]["lookahead"] is False
    assert result["removed"] == "no lookahead" and len(result["runs"]) == 1


def test_quick_profile_accounts_for_the_step(tmp_path, monkeypatch):
    monkeypatch.setenv(experiments.EXPERIMENTS_ENV, str(tmp_path))
    result = experiments.run("speedrun_profile", quick=True)["result"]
    parts = result["parts"]
    assert parts["convolutions, forward"] > 0 and parts["convolutions, backward"] > 0
    assert sum(parts.values()) == pytest.approx(result["step_seconds"], rel=0.05) or parts["everything else"] == 0
    rows = sr.profile_rows(result)
    assert sum(r["share"] for r in rows) == pytest.approx(100.0) and rows[-1]["part"].startswith("data augmentation")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "run.json"], "--out goes with --seeds"),
        (["--seeds", "0", "--ablation"], "--seeds runs the recipe"),
        (["--ablation", "no such thing"], "invalid choice"),
    ],
)
def test_benchmark_refuses_contradictory_arguments(args, message):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "speedrun_cifar10.py"
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr, done.stderr[-500:]
