"""Chapter 08: the tables equal the papers' figures, the manifold and shuffle computations, the guideline
benchmarks, the latency helpers, the checkers (right and wrong answers), the figures and the experiments."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from cnnlib import experiments  # noqa: E402
from cnnlib.chapters.ch08_mobile import exercises, figures, guidelines, tables  # noqa: E402
from cnnlib.chapters.ch08_mobile.latency import OTHER, model_latency, time_by_kind  # noqa: E402
from cnnlib.chapters.ch08_mobile.manifold import (  # noqa: E402
    recoverable_fraction,
    relu_roundtrip,
    roundtrip_error,
    spiral,
)
from cnnlib.chapters.ch08_mobile.mixing import group_reach  # noqa: E402
from cnnlib.models.shufflenet import ShuffleUnitV1, channel_shuffle  # noqa: E402


def test_separable_cost_equals_the_formula():
    costs = tables.separable_costs(64, 128, size=8)
    assert costs["ratio"] == pytest.approx(1 / 128 + 1 / 9)
    assert costs["full"]["params"] == 9 * 64 * 128 + 2 * 128
    assert costs["separable"]["params"] == 9 * 64 + 64 * 128 + 2 * 64 + 2 * 128


def test_multiplier_rows_reproduce_howard_tables_6_and_7():
    rows = tables.multiplier_rows()
    assert len(rows) == 7
    for r in rows:
        assert abs(r["mult_adds"] - r["paper_mult_adds"]) < 1  # the paper rounds (or truncates) to millions
        assert r["params"] == pytest.approx(r["paper_params"], abs=0.05)
    assert rows[0]["rule_mult_adds"] == pytest.approx(rows[0]["mult_adds"])
    assert rows[3]["rule_mult_adds"] < rows[3]["mult_adds"]  # alpha = 0.25: depthwise, stem and fc scale with alpha


def test_multiplier_gap_splits_the_rules_error_by_layer_role():
    rows = {(r["width"], r["resolution"]): r for r in tables.multiplier_rows()}
    for width, resolution in ((0.25, 224), (0.5, 224), (1.0, 160)):
        gap = tables.multiplier_gap(width, resolution)
        r = rows[(width, resolution)]
        assert gap["total"] == pytest.approx(r["mult_adds"] - r["rule_mult_adds"], abs=1e-6)
        assert gap["total"] == pytest.approx(sum(v for k, v in gap.items() if k != "total"))
    quarter = tables.multiplier_gap(0.25)
    assert quarter["depthwise"] > quarter["stem"] > quarter["classifier"] > 0  # depthwise: most of the gap
    assert quarter["1x1"] == pytest.approx(0)  # 1x1 layers scale with alpha^2 exactly at alpha = 0.25
    # depthwise 3x3 on alpha M channels: 9 alpha M D^2, against the rule's alpha^2 share
    assert quarter["depthwise"] == pytest.approx(17_385_984 * (0.25 - 0.25**2) / 1e6)
    assert tables.multiplier_gap(1.0)["total"] == pytest.approx(0)
    at_160 = tables.multiplier_gap(1.0, 160)  # only the classifier ignores rho
    assert at_160["classifier"] == pytest.approx(1.025 * (1 - (160 / 224) ** 2), rel=1e-3)
    assert at_160["depthwise"] == pytest.approx(0, abs=1e-9) and at_160["stem"] == pytest.approx(0, abs=1e-9)


def test_kind_mult_adds_sums_to_the_count_and_works_on_meta():
    from cnnlib.analysis.summary import count_mult_adds
    from cnnlib.models import build_on_meta

    model = build_on_meta("mobilenet_v1", width=0.5)
    kinds = tables.kind_mult_adds(model, (3, 128, 128))
    assert sum(kinds.values()) == count_mult_adds(model, (3, 128, 128))
    small = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Flatten(), nn.Linear(8 * 4 * 4, 10)
    )
    assert tables.kind_mult_adds(small, (3, 4, 4)) == {
        "full 3x3": 27 * 8 * 16,
        "depthwise 3x3": 9 * 8 * 16,
        "fully connected": 128 * 10,
    }


def test_kind_shares_reproduce_howard_table_2():
    from cnnlib.models import get_model

    shares = tables.kind_shares(get_model("mobilenet_v1"))
    assert sum(v["mult_adds"] for v in shares.values()) == pytest.approx(100)
    for kind in ("1x1 conv", "depthwise 3x3", "fully connected"):
        assert shares[kind]["mult_adds"] == pytest.approx(tables.HOWARD_TABLE2[kind][0], abs=0.01)
        assert shares[kind]["params"] == pytest.approx(tables.HOWARD_TABLE2[kind][1], abs=0.05)


def test_conv_kind():
    assert tables.conv_kind(nn.Conv2d(8, 8, 3, groups=8)) == "depthwise 3x3"
    assert tables.conv_kind(nn.Conv2d(8, 16, 1)) == "1x1 conv"
    assert tables.conv_kind(nn.Conv2d(8, 16, 1, groups=4)) == "grouped 1x1"
    assert tables.conv_kind(nn.Conv2d(3, 16, 3)) == "full 3x3"
    assert tables.conv_kind(nn.Linear(3, 4)) == "fully connected"
    assert tables.conv_kind(nn.ReLU()) is None


def test_fire_and_squeezenet_counts():
    fire = tables.fire_costs()
    assert fire[0]["params"] == 9 * 128 * 128 + 128
    assert fire[2]["params"] == 128 * 16 + 16 + 16 * 64 + 64 + 9 * 16 * 64 + 64
    assert fire[2]["fraction"] < 0.1 < fire[1]["fraction"]
    rows = {r["model"]: r for r in tables.squeezenet_rows()}
    assert rows["squeezenet1_0"]["params"] == 1_248_424
    assert rows["alexnet_paper"]["vs_squeezenet"] == pytest.approx(50, abs=0.1)  # "50x fewer parameters"
    assert rows["squeezenet1_0"]["mult_adds"] > rows["alexnet"]["mult_adds"]  # but not fewer mult-adds
    assert rows["sqnxt23_1x"]["params"] == 724_056


def test_efficientnet_rows_equal_torchvision_and_table_2():
    rows = tables.efficientnet_rows()
    assert [r["variant"] for r in rows] == [f"B{i}" for i in range(8)]
    for r in rows:
        assert r["params"] == r["tv_params"]
        assert r["params"] / 1e6 == pytest.approx(r["paper_params"], rel=0.05)
        assert r["gmacs"] == pytest.approx(r["paper_gflops"], rel=0.08)
    assert rows[1]["rule_resolution"] == 258 and rows[1]["resolution"] == 240
    assert rows[7]["rule_ratio"] == pytest.approx(1.9203**7, rel=1e-3)
    stages = tables.efficientnet_stage_rows(("b0",))
    assert [s["b0"] for s in stages][:2] == ["1 x 16", "2 x 24"]


def test_latency_and_throughput_rows():
    result = {
        "a": {"params": 1, "mult_adds": 2e9, "batch1_ms": 10.0, "batch64_ms": 640.0},
        "b": {"params": 1, "mult_adds": 1e9, "batch1_ms": 5.0, "batch64_ms": 1280.0},
    }
    rows = tables.latency_rows(result)
    assert [r["model"] for r in rows] == ["b", "a"] and "rate_vs_ref" not in rows[0]
    assert rows[1]["gmacs_per_s"] == pytest.approx(200) and rows[0]["ms_per_gmac"] == pytest.approx(5)
    rows = tables.latency_rows(result, reference="a")
    assert rows[0]["rate_vs_ref"] == pytest.approx(4) and rows[1]["rate_vs_ref"] == pytest.approx(1)
    kinds = tables.throughput_rows(
        {"x": {"ms": 3.0, "mult_adds": 3e9}, "y": {"ms": 1.0, "mult_adds": 1e9}, OTHER: {"ms": 1.0, "mult_adds": 0.0}}
    )
    assert kinds[0]["kind"] == "x" and kinds[0]["time_share"] == pytest.approx(60)
    assert kinds[0]["gmacs_per_s"] == pytest.approx(1000)
    assert kinds[0]["time_per_macs"] == pytest.approx(60 / 75)
    batch = tables.throughput_rows({"x": {"ms": 3.0, "mult_adds": 3e9}}, batch_size=64)  # mult-adds per image
    assert batch[0]["gmacs_per_s"] == pytest.approx(64_000)
    other = next(k for k in kinds if k["kind"] == OTHER)
    assert other["gmacs_per_s"] is None and other["time_per_macs"] is None  # shown as a dash, not nan


def test_below_reference_and_pair_rows():
    result = {
        "resnet18": {"params": 1, "mult_adds": 2e9, "batch1_ms": 20.0, "batch64_ms": 640.0},
        "alexnet": {"params": 1, "mult_adds": 1e9, "batch1_ms": 8.0, "batch64_ms": 160.0},  # faster rate
        "fast": {"params": 1, "mult_adds": 1e9, "batch1_ms": 5.0, "batch64_ms": 200.0},  # 320 G/s: above
        "slow": {"params": 1, "mult_adds": 0.5e9, "batch1_ms": 10.0, "batch64_ms": 320.0},  # 100 G/s: below
    }
    rows = tables.latency_rows(result, reference="resnet18")
    assert tables.below_reference(rows) == {"below": ["slow"], "not_below": ["fast"]}  # references left out
    (pair,) = tables.pair_rows(rows, [("slow", "resnet18")])
    assert pair["fewer_macs"] == pytest.approx(4) and pair["faster_b1"] == pytest.approx(2)
    assert pair["faster_b64"] == pytest.approx(2) and pair["reference"] == "resnet18"
    (pair,) = tables.pair_rows(rows, [("resnet18", "slow")])
    assert pair["faster_b1"] == pytest.approx(0.5)  # below 1: slower than the reference


def _log(params, acc):
    return {"parameters": params, "stored": {"test_acc": acc}}


def test_zoo_comparison():
    logs = {"m": _log(100, 0.88), "untrained": None, "r20": _log(300, 0.90), "r56": _log(900, 0.92)}
    (row,) = tables.zoo_comparison(logs, references=("r20", "r56"))
    assert row["model"] == "m" and row["params"] == 100 and row["test_acc"] == pytest.approx(88)
    assert row["gap_r20"] == pytest.approx(-2) and row["gap_r56"] == pytest.approx(-4)
    assert row["fewer_r20"] == pytest.approx(3) and row["fewer_r56"] == pytest.approx(9)
    with pytest.raises(KeyError, match="r56"):
        tables.zoo_comparison({"m": _log(1, 0.5), "r56": None}, references=("r56",))


def test_relu_manifold_collapses_in_low_dimensions_only():
    points = spiral(200)
    assert points.shape == (200, 2) and float(points.norm(dim=1).max()) == pytest.approx(1.0)
    assert recoverable_fraction(points, 2, seeds=10) < 0.5
    assert recoverable_fraction(points, 30, seeds=10) == 1.0
    assert roundtrip_error(points, 30, seeds=5) < roundtrip_error(points, 2, seeds=5)
    # without the ReLU the pseudo-inverse undoes the embedding exactly: the loss is ReLU's
    T = torch.randn(5, 2, generator=torch.Generator().manual_seed(0), dtype=points.dtype)
    assert torch.allclose((points @ T.T) @ torch.linalg.pinv(T).T, points)
    with pytest.raises(ValueError):
        relu_roundtrip(points[:, :1], 3)


def test_group_reach_is_block_diagonal_without_shuffle_and_full_with_it():
    alone, shuffled = group_reach(12, 3, shuffle=False), group_reach(12, 3, shuffle=True)
    assert int(alone.sum()) == 3 * 4 * 4
    assert bool(shuffled.all())


def test_guideline_variants_have_equal_mult_adds_and_benchmark_runs():
    for g, variants in guidelines.GUIDELINES.items():
        macs = []
        for v in variants:
            model, shape = guidelines.build(g, v.label, 1)
            assert model(torch.zeros(1, *shape)).shape[1] == shape[0]  # every benchmark net keeps its width
            from cnnlib.analysis.summary import count_mult_adds

            macs.append(count_mult_adds(model, shape))
        assert max(macs) / min(macs) < 1.12, (g, macs)  # the paper holds the FLOPs (nearly) fixed
        assert set(guidelines.PAPER[g]) == {v.label for v in variants}
    rows = guidelines.benchmark(("G2",), scales=(1,), repeats=1)
    assert [r["variant"] for r in rows] == ["g = 1", "g = 2", "g = 4", "g = 8"]
    assert rows[0]["relative"] == 1.0 and rows[0]["arm"] == 40.0
    with pytest.raises(KeyError):
        guidelines.build("G1", "no such variant")
    fake = [dict(r, relative=[1.0, 0.9, 0.5, 1.2][i]) for i, r in enumerate(rows)]
    (summary,) = tables.guideline_summary(fake, scale=1)
    assert summary["variant"] == "g = 4" and summary["cpu"] == 0.5
    assert summary["arm"] == pytest.approx(32.9 / 40.0) and summary["gpu"] == pytest.approx(1026 / 2451)
    assert summary["holds"] == "holds" and summary["vs_arm"] == "larger"  # 0.5 here, 0.82 on the phone
    fake = [dict(r, relative=[1.0, 0.97, 1.3, 0.95][i]) for i, r in enumerate(rows)]
    (summary,) = tables.guideline_summary(fake, scale=1)
    assert summary["variant"] == "g = 4" and summary["holds"] == "does not hold"  # G2 predicts slower
    fake = [dict(r, relative=[1.0, 0.97, 1.01, 0.98][i]) for i, r in enumerate(rows)]
    (summary,) = tables.guideline_summary(fake, scale=1)
    assert summary["holds"] == "no clear effect" and summary["vs_arm"] == "smaller"


def test_direction_holds_follows_each_guideline():
    assert guidelines.direction_holds("G1", 0.8) == "holds"
    assert guidelines.direction_holds("G1", 1.2) == "does not hold"
    assert guidelines.direction_holds("G4", 1.2) == "holds"  # removing element-wise operations speeds up
    assert guidelines.direction_holds("G4", 0.8) == "does not hold"
    assert guidelines.direction_holds("G3", 0.96) == "no clear effect"
    assert guidelines.direction_holds("G3", 0.96, tolerance=0.01) == "holds"
    assert set(guidelines.PAPER_GPU_WIDTH) == set(guidelines.GUIDELINES) == set(guidelines.DIRECTION)


def test_time_by_kind_and_model_latency():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, groups=8))
    kinds = time_by_kind(model, (3, 16, 16), repeats=2)
    assert set(kinds) == {"full 3x3", "depthwise 3x3", OTHER}
    assert kinds["depthwise 3x3"]["mult_adds"] == 9 * 8 * 16 * 16
    assert all(v["ms"] >= 0 for v in kinds.values())
    assert not model._forward_hooks and not model[0]._forward_hooks  # hooks removed
    m = model_latency("mobilenet_v2_cifar", (3, 32, 32), repeats=1, batch64_repeats=1, width=0.25)
    assert m["params"] > 0 and m["batch1_ms"] > 0 and m["batch64_ms"] > 0


def _my_shuffle(x, groups):
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def test_check_channel_shuffle_accepts_the_shuffle_and_rejects_the_identity_and_the_inverse():
    assert exercises.check_channel_shuffle(_my_shuffle)
    with pytest.raises(AssertionError, match="unchanged"):
        exercises.check_channel_shuffle(lambda x, g: x)
    with pytest.raises(AssertionError, match="inverse"):
        exercises.check_channel_shuffle(lambda x, g: channel_shuffle(x, x.shape[1] // g))
    with pytest.raises(AssertionError, match="same shape"):
        exercises.check_channel_shuffle(lambda x, g: x[:, :-1])


class _NoShuffle(ShuffleUnitV1):
    def forward(self, x):
        out = self.expand(self.depthwise(self.compress(x)))
        if self.stride == 2:
            return torch.relu(torch.cat([self.shortcut(x), out], dim=1))
        return torch.relu(out + x)


class _InverseShuffle(ShuffleUnitV1):
    def forward(self, x):
        out = self.compress(x)
        out = self.expand(self.depthwise(channel_shuffle(out, out.shape[1] // self.groups)))
        if self.stride == 2:
            return torch.relu(torch.cat([self.shortcut(x), out], dim=1))
        return torch.relu(out + x)


class _BranchFirst(ShuffleUnitV1):
    def forward(self, x):
        out = self.expand(self.depthwise(channel_shuffle(self.compress(x), self.groups)))
        if self.stride == 2:
            return torch.relu(torch.cat([out, self.shortcut(x)], dim=1))
        return torch.relu(out + x)


class _Sequential(nn.Module):  # an answer written differently: one Sequential, functional pooling
    bias = False

    def __init__(self, c_in, c_out, groups, stride):
        super().__init__()
        mid, self.groups, self.stride = c_out // 4, groups, stride
        out = c_out - c_in if stride == 2 else c_out
        self.layers = nn.Sequential(
            nn.Conv2d(c_in, mid, 1, groups=groups, bias=self.bias), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=self.bias), nn.BatchNorm2d(mid),
            nn.Conv2d(mid, out, 1, groups=groups, bias=self.bias), nn.BatchNorm2d(out),
        )  # fmt: skip

    def forward(self, x):
        out = self.layers[3:](channel_shuffle(self.layers[:3](x), self.groups))
        if self.stride == 2:
            return torch.relu(torch.cat([nn.functional.avg_pool2d(x, 3, 2, 1), out], 1))
        return torch.relu(out + x)


def test_check_shuffle_unit_accepts_right_units_and_rejects_wrong_ones(capsys):
    assert exercises.check_shuffle_unit(ShuffleUnitV1)
    assert "outputs equal cnnlib's" in capsys.readouterr().out
    assert exercises.check_shuffle_unit(_Sequential)
    with pytest.raises(AssertionError, match="shuffle the channels"):
        exercises.check_shuffle_unit(_NoShuffle)
    with pytest.raises(AssertionError, match="another output"):
        exercises.check_shuffle_unit(_InverseShuffle)  # mixes the groups too, but not as the shuffle does
    with pytest.raises(AssertionError, match="pooled input"):
        exercises.check_shuffle_unit(_BranchFirst)
    with pytest.raises(AssertionError, match="parameters"):
        exercises.check_shuffle_unit(type("_WithBias", (_Sequential,), {"bias": True}))


class _ReluAfterDepthwise(ShuffleUnitV1):
    def forward(self, x):
        out = torch.relu(self.depthwise(channel_shuffle(self.compress(x), self.groups)))
        out = self.expand(out)
        if self.stride == 2:
            return torch.relu(torch.cat([self.shortcut(x), out], dim=1))
        return torch.relu(out + x)


def test_check_shuffle_unit_catches_a_relu_after_the_depthwise_layer():
    with pytest.raises(AssertionError, match="another output"):
        exercises.check_shuffle_unit(_ReluAfterDepthwise)


def test_check_phi_costs(capsys):
    from cnnlib.analysis.summary import count_mult_adds
    from cnnlib.models.efficientnet import efficientnet_phi

    with torch.device("meta"):
        nets = {phi: efficientnet_phi(phi) for phi in range(4)}
    macs = {phi: count_mult_adds(m, (3, r, r)) for phi, (m, r) in nets.items()}
    assert exercises.check_phi_costs({phi: macs[phi] / macs[0] for phi in (1, 2, 3)})
    assert "Correct" in capsys.readouterr().out
    at_224 = {phi: count_mult_adds(nets[phi][0], (3, 224, 224)) / macs[0] for phi in (1, 2, 3)}
    with pytest.raises(AssertionError, match="own resolution"):
        exercises.check_phi_costs(at_224)
    with pytest.raises(AssertionError, match="rule"):
        exercises.check_phi_costs({phi: 2.0**phi for phi in (1, 2, 3)})
    with pytest.raises(AssertionError, match="upside down"):
        exercises.check_phi_costs({phi: macs[0] / macs[phi] for phi in (1, 2, 3)})
    with pytest.raises(AssertionError, match="phi = "):
        exercises.check_phi_costs({1: 2.0})


def test_figures_draw():
    import matplotlib.pyplot as plt

    rows = guidelines.benchmark(("G1",), scales=(1,), repeats=1)
    lat = [
        {"model": "resnet18", "mult_adds": 1.8e9, "batch1_ms": 20.0, "batch64_ms": 600.0},
        {"model": "mobilenet_v2", "mult_adds": 0.3e9, "batch1_ms": 8.0, "batch64_ms": 300.0},
        {"model": "m", "mult_adds": 0.31e9, "batch1_ms": 8.2, "batch64_ms": 310.0},
    ]
    drawn = [
        figures.plot_relu_manifold(spiral(50), dims=(2, 30)),
        figures.plot_channel_shuffle(6, 2),
        figures.plot_group_reach({"a": group_reach(6, 2, shuffle=False)}, groups=2),
        figures.plot_activations(),
        figures.plot_guidelines(rows, scale=1),
        figures.plot_latency(lat),
        figures.plot_kind_shares(tables.throughput_rows({"1x1 conv": {"ms": 1.0, "mult_adds": 1e9}})),
        figures.plot_zoo_tradeoff([{"model": "m", "batch1_ms": 1.0, "test_acc": 0.9, "params": 1e5}]),
        figures._multiplier_figure(0.5, 160),
    ]
    assert all(f.axes for f in drawn)
    labels = {t.get_text() for t in drawn[5].axes[0].texts}
    assert labels == {"ResNet-18", "MobileNetV2", "m"}  # short names, written beside the points
    plt.close("all")


def test_short_name_and_style():
    assert figures.short_name("mobilenet_v3_small") == "V3-Small" and figures.short_name("new") == "new"
    from cnnlib.chapters.ch08_mobile.experiments import IMAGENET_MODELS

    assert set(figures.SHORT_NAMES) == set(IMAGENET_MODELS)
    assert figures._style("resnet18") == ("black", "X")
    assert figures._style("mobilenet_v2")[0] != figures._style("shufflenet_v2_x1_0")[0]


def test_experiments_quick_runs_have_the_stored_form():
    guide = experiments.run("shufflenet_guidelines", quick=True)["result"]
    assert {r["guideline"] for r in guide["rows"]} == {"G1", "G2", "G3", "G4"}
    lat = experiments.run("mobile_latency", quick=True)["result"]
    assert set(lat) == {"resolution", "imagenet", "cifar", "missing", "kinds"}
    assert set(next(iter(lat["imagenet"].values()))) == {"params", "mult_adds", "batch1_ms", "batch64_ms"}


@pytest.mark.parametrize("name", ["mobile_latency", "shufflenet_guidelines"])
def test_stored_results_exist_and_are_full_runs(name):
    record = experiments.load_result(name)
    assert not record["quick"]
    if name == "mobile_latency":
        assert len(record["result"]["imagenet"]) == 13 and set(record["result"]["kinds"]) == {"1", "64"}
    else:
        assert len(record["result"]["rows"]) == 3 * 17


def test_keep_fastest_keeps_the_lowest_latency_of_each_batch_size():
    from cnnlib.chapters.ch08_mobile.experiments import _keep_fastest

    results = {}
    _keep_fastest(results, "m", {"params": 5, "batch1_ms": 3.0, "batch64_ms": 90.0})
    _keep_fastest(results, "m", {"params": 5, "batch1_ms": 4.0, "batch64_ms": 80.0})
    assert results == {"m": {"params": 5, "batch1_ms": 3.0, "batch64_ms": 80.0}}
