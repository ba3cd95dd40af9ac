"""cnnlib.train: the loop learns, reproducibly; config and speed settings behave as documented."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch
import torch.nn as nn

import cnnlib.train as cnnlib_train
import cnnlib.train.plan as train_plan
import cnnlib.train.speed as train_speed
from cnnlib.data import DatasetSpec, ImageTensors
from cnnlib.train import SpeedSettings, TrainConfig, choose_speed_settings, evaluate, fit, predict


def stripes(n: int, seed: int) -> ImageTensors:
    """A tiny problem: class 0 has a bright left half, class 1 a bright right half, plus noise."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=gen)
    images = torch.randint(0, 80, (n, 1, 8, 8), generator=gen)
    images[labels == 0, :, :, :4] += 150
    images[labels == 1, :, :, 4:] += 150
    spec = DatasetSpec("stripes", classes=("left", "right"), mean=(0.4,), std=(0.3,))
    return ImageTensors(images.to(torch.uint8), labels, spec, "train", "synthetic (test)")


def tiny_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 2)
    )


CONFIG = TrainConfig(epochs=3, batch_size=32, lr=0.05, precision="fp32", seed=0)


def test_fit_learns_a_tiny_problem():
    train, test = stripes(512, 0), stripes(256, 1)
    torch.manual_seed(0)
    model = tiny_cnn()
    before = evaluate(model, test)
    history = fit(model, train, test, CONFIG, device="cpu", progress=False)
    epochs = history["epochs"]
    assert len(epochs) == 3
    assert epochs[-1]["test_acc"] >= 0.95
    assert epochs[-1]["test_loss"] < 0.5 * before["loss"]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert set(epochs[0]) >= {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"}
    assert history["config"]["lr"] == 0.05
    assert history["data_source"]["train"] == "synthetic (test)"
    assert "torch" in history["hardware"] and history["train_seconds"] > 0
    assert not model.training


def test_fit_is_reproducible_with_a_seed():
    train = stripes(256, 0)
    first = tiny_cnn()
    second = copy.deepcopy(first)
    config = dataclasses.replace(CONFIG, crop_padding=1, flip=True)
    a = fit(first, train, None, config, device="cpu", progress=False)
    torch.rand(1000)  # disturb the global generator: fit must reseed data order and augmentation itself
    b = fit(second, train, None, config, device="cpu", progress=False)
    assert [e["train_loss"] for e in a["epochs"]] == [e["train_loss"] for e in b["epochs"]]


def test_log_every_records_steps():
    train = stripes(256, 0)
    history = fit(
        tiny_cnn(), train, None, dataclasses.replace(CONFIG, log_every=2, epochs=2), device="cpu", progress=False
    )
    steps = [s["step"] for s in history["steps"]]
    assert steps == [2, 4, 6, 8, 10, 12, 14, 16]  # 8 steps per epoch, two epochs
    assert all(0 <= s["train_acc"] <= 1 for s in history["steps"])


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CONFIG.lr = 1.0  # type: ignore[misc]


def test_bad_config_values_raise():
    train = stripes(64, 0)
    with pytest.raises(ValueError, match="unknown optimizer"):
        fit(tiny_cnn(), train, None, dataclasses.replace(CONFIG, optimizer="lbfgs"), device="cpu", progress=False)
    with pytest.raises(ValueError, match="unknown schedule"):
        fit(tiny_cnn(), train, None, dataclasses.replace(CONFIG, schedule="step"), device="cpu", progress=False)
    with pytest.raises(ValueError, match="precision"):
        choose_speed_settings(tiny_cnn(), (1, 8, 8), 8, torch.device("cpu"), precision="fp16")


def test_divergence_is_reported():
    train = stripes(128, 0)
    with pytest.raises(FloatingPointError, match="lower TrainConfig.lr"):
        fit(
            tiny_cnn(),
            train,
            None,
            dataclasses.replace(CONFIG, lr=1e12, schedule="constant", epochs=2),
            device="cpu",
            progress=False,
        )


def test_auto_speed_settings_measure_and_choose():
    speed = choose_speed_settings(tiny_cnn(), (1, 8, 8), 16, torch.device("cpu"), precision="auto", steps=1)
    float32 = {"float32, contiguous", "float32, channels-last"}
    bfloat16 = {"bfloat16 autocast, contiguous", "bfloat16 autocast, channels-last"}
    assert set(speed.measured) == (float32 | bfloat16 if cnnlib_train.cpu_has_bf16() else float32)
    assert all(rate > 0 for rate in speed.measured.values())
    baseline = max(speed.measured["float32, contiguous"], speed.measured["float32, channels-last"])
    if speed.autocast_dtype is not None:  # leaving float32 must have been worth at least 10 %
        assert max(speed.measured.values()) >= 1.10 * baseline


class ScriptedProbe:
    """Stands in for cnnlib.train.speed._TrainingProbe: step times scripted per candidate, no training."""

    scripts: dict = {}
    log: list = []

    def __init__(self, model, x, y, settings):
        self.x, self.settings = x, settings
        self.name = settings.label
        self.times = iter(self.scripts[self.name])

    def step(self):
        self.log.append(self.name)
        return next(self.times)

    rate = train_speed._TrainingProbe.rate


def scripted_choice(monkeypatch, scripts, **kwargs):
    ScriptedProbe.scripts, ScriptedProbe.log = scripts, []
    monkeypatch.setattr(train_speed, "_TrainingProbe", ScriptedProbe)
    monkeypatch.setattr(train_speed, "_SPEED_CACHE", {})
    monkeypatch.setattr(train_speed, "cpu_has_bf16", lambda: True)  # the four candidates, on any CPU
    return choose_speed_settings(
        tiny_cnn(), (1, 8, 8), 10, torch.device("cpu"), precision="auto", steps=3, min_seconds=0.0, **kwargs
    )


def test_speed_rule_measures_the_steady_state_in_interleaved_rounds(monkeypatch):
    # float32 contiguous: slow warm-up (kernel selection), then 0.1 s per step;
    # bfloat16 channels-last: 0.05 s per step, but its first round ran while the machine was slow.
    steady = [0.1] * 20
    scripts = {
        "float32, contiguous": [5.0, 0.12] + steady,
        "float32, channels-last": [0.3, 0.15] + [0.25] * 20,
        "bfloat16 autocast, contiguous": [9.0, 0.9] + [0.9] * 20,  # 2nd step 7.5x the fastest: dropped after warm-up
        "bfloat16 autocast, channels-last": [1.0, 0.06] + [0.2, 0.2, 0.2] + [0.05] * 20,
    }
    speed = scripted_choice(monkeypatch, scripts)
    assert speed.measured == {
        "float32, contiguous": 100.0,
        "float32, channels-last": 40.0,
        "bfloat16 autocast, contiguous": 11.1,
        "bfloat16 autocast, channels-last": 200.0,
    }
    assert speed.autocast_dtype == torch.bfloat16 and speed.channels_last  # its best round, not its first
    assert ScriptedProbe.log.count("bfloat16 autocast, contiguous") == 2  # only the two warm-up steps
    # after round 1 the leader is float32 contiguous (100); float32 channels-last (40) is under half: no second round
    assert ScriptedProbe.log.count("float32, channels-last") == 2 + 3
    assert ScriptedProbe.log.count("float32, contiguous") == 2 + 3 + 3


def test_speed_rule_keeps_float32_unless_the_gain_is_worth_it(monkeypatch):
    scripts = {
        "float32, contiguous": [0.2] + [0.1] * 20,
        "float32, channels-last": [0.2] + [0.1] * 20,
        "bfloat16 autocast, contiguous": [0.2] + [0.095] * 20,  # 5 % faster: not worth the precision
        "bfloat16 autocast, channels-last": [0.2] + [0.1] * 20,
    }
    speed = scripted_choice(monkeypatch, scripts)
    assert speed.autocast_dtype is None
    assert speed.measured["bfloat16 autocast, contiguous"] == pytest.approx(105.3, abs=0.1)
    with pytest.raises(ValueError, match="at least 1"):
        scripted_choice(monkeypatch, scripts, rounds=0)


def test_speed_rule_keeps_freed_memory_first(monkeypatch):
    # Training that never evaluates (the speed-run's ablation) passes through the speed rule only: without
    # reuse_freed_memory there, each batch's activations were fresh kernel pages (136,000 page faults/s, half
    # the CPU time in the kernel, epochs 1.34x as long on the AVX2 EPYC).
    calls = []
    monkeypatch.setattr(train_speed, "reuse_freed_memory", lambda: calls.append(1))
    choose_speed_settings(tiny_cnn(), (1, 8, 8), 8, torch.device("cpu"), precision="fp32")
    assert calls


def test_explicit_precision_is_respected():
    speed = choose_speed_settings(tiny_cnn(), (1, 8, 8), 8, torch.device("cpu"), precision="bf16", channels_last=True)
    assert speed.autocast_dtype == torch.bfloat16 and speed.channels_last
    fp32 = choose_speed_settings(tiny_cnn(), (1, 8, 8), 8, torch.device("cpu"), precision="fp32")
    assert fp32.autocast_dtype is None and not fp32.channels_last


def test_predict_keeps_order_and_is_float32():
    data = stripes(50, 3)
    model = tiny_cnn()
    logits = predict(model, data, SpeedSettings("cpu", torch.bfloat16, True), batch_size=7)
    assert logits.shape == (50, 2) and logits.dtype == torch.float32
    one_by_one = torch.cat(
        [
            predict(model, ImageTensors(data.images[i : i + 1], data.labels[i : i + 1], data.spec, "train", "x"))
            for i in range(3)
        ]
    )
    assert torch.allclose(logits[:3], one_by_one, atol=0.1)  # bf16 vs fp32


def fixed_speed(monkeypatch, img_per_s: float) -> None:
    """Make the training loop run at ``img_per_s`` and evaluation at three times that, without measuring."""
    measured = {"float32, contiguous": img_per_s}
    monkeypatch.setattr(
        train_plan, "choose_speed_settings", lambda *a, **k: SpeedSettings("cpu", None, False, measured)
    )
    monkeypatch.setattr(train_plan, "_loop_rates", lambda *a, **k: (img_per_s, 3 * img_per_s))


def test_plan_training_keeps_the_recipe_when_it_fits(monkeypatch):
    fixed_speed(monkeypatch, 1000.0)
    train, test = stripes(512, 0), stripes(300, 1)
    plan = cnnlib_train.plan_training(tiny_cnn(), train, CONFIG, budget_seconds=10, test_data=test, device="cpu")
    assert plan.config == CONFIG and plan.train_data is train and not plan.reduced
    assert plan.estimated_seconds == pytest.approx(
        3 * (512 + 100) / 1000
    )  # 3 epochs + 3 evaluations at a third of the cost
    assert "the full recipe runs" in str(plan) and "1,000 training images/s" in str(plan)


def test_plan_training_trains_fewer_epochs_then_fewer_images(monkeypatch):
    train, test = stripes(512, 0), stripes(300, 1)
    fixed_speed(monkeypatch, 100.0)  # an epoch with its evaluation: 6.12 s
    plan = cnnlib_train.plan_training(tiny_cnn(), train, CONFIG, budget_seconds=13, test_data=test, device="cpu")
    assert plan.config.epochs == 2 and len(plan.train_data) == 512 and plan.reduced
    assert dataclasses.replace(plan.config, epochs=3) == CONFIG  # nothing else changed
    assert "over the training budget of 13 s, so this run trains 2 epochs (about 12 s)" in str(plan)
    assert plan.steps == 2 * 16 and plan.warmup_steps == 6  # 512 / 32 per epoch; 20 % of 32 steps, rounded down
    assert "rescaled to these 2 epochs" in str(plan)
    plan = cnnlib_train.plan_training(tiny_cnn(), train, CONFIG, budget_seconds=3, test_data=test, device="cpu")
    assert plan.config.epochs == 1 and len(plan.train_data) == 192  # 300 - 100 = 200 images, whole batches of 32
    assert plan.estimated_seconds <= 3 and "1 epoch on 192 of the 512 training images" in str(plan)
    assert "rescaled to this epoch" in str(plan)
    history = fit(tiny_cnn(), plan.train_data, test, plan.config, device="cpu", progress=False)
    assert len(history["epochs"]) == 1
    with pytest.raises(ValueError, match="budget_seconds and min_steps must be positive"):
        cnnlib_train.plan_training(tiny_cnn(), train, CONFIG, budget_seconds=0)


def test_plan_training_measures_the_real_loop_and_leaves_the_model_and_random_state_alone():
    train, test = stripes(512, 0), stripes(300, 1)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 2),
    )
    config = dataclasses.replace(CONFIG, precision="auto")  # the speed rule measures too
    before = copy.deepcopy(model.state_dict())
    rng = torch.get_rng_state()
    plan = cnnlib_train.plan_training(model, train, config, budget_seconds=600, test_data=test, device="cpu")
    assert plan.train_img_per_s > 0 and plan.eval_seconds > 0 and not plan.reduced
    assert plan.estimated_seconds == pytest.approx(3 * (512 / plan.train_img_per_s + plan.eval_seconds))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN statistics: a copy was trained
    assert model.training and next(model.parameters()).is_contiguous()
    assert torch.equal(rng, torch.get_rng_state())  # and the run that follows stays reproducible


def test_plan_training_says_when_even_the_smallest_run_is_over_budget(monkeypatch):
    train, test = stripes(512, 0), stripes(300, 1)
    fixed_speed(monkeypatch, 100.0)  # one evaluation alone takes 1 s
    plan = cnnlib_train.plan_training(
        tiny_cnn(), train, CONFIG, budget_seconds=0.5, test_data=test, device="cpu", min_steps=4
    )
    assert plan.config.epochs == 1 and len(plan.train_data) == 4 * 32  # never fewer than min_steps batches
    assert "still over the budget" in str(plan)
    plan = cnnlib_train.plan_training(
        tiny_cnn(), train, dataclasses.replace(CONFIG, epochs=1), 100, test_data=test, device="cpu"
    )
    assert str(plan).startswith("Budget: 1 epoch takes about 6 s of training and evaluation here")


def test_speed_candidates_and_the_schedules_step_arithmetic(monkeypatch):
    monkeypatch.setattr(train_speed, "cpu_has_bf16", lambda: True)
    labels = [c.label for c in cnnlib_train.speed_candidates("cpu")]
    assert labels == [
        "float32, contiguous",
        "float32, channels-last",
        "bfloat16 autocast, contiguous",
        "bfloat16 autocast, channels-last",
    ]
    assert [c.label for c in cnnlib_train.speed_candidates("cpu", channels_last=True)] == [
        "float32, channels-last",
        "bfloat16 autocast, channels-last",
    ]
    # a CPU without oneDNN bfloat16 kernels (AVX2 only): bfloat16 is not even timed, only float32
    monkeypatch.setattr(train_speed, "cpu_has_bf16", lambda: False)
    assert [c.label for c in cnnlib_train.speed_candidates("cpu")] == ["float32, contiguous", "float32, channels-last"]
    assert cnnlib_train.steps_per_epoch(100, 32) == 3 and cnnlib_train.steps_per_epoch(10, 32) == 1
    assert cnnlib_train.warmup_steps(CONFIG, 100) == 20  # one-cycle, warmup_fraction 0.2
    assert cnnlib_train.warmup_steps(dataclasses.replace(CONFIG, schedule="cosine"), 100) == 0
    # the schedule built for training warms up over exactly those steps: its rate peaks at step 20
    opt = torch.optim.SGD(tiny_cnn().parameters(), lr=1.0)
    sched = cnnlib_train.loop._make_schedule(opt, dataclasses.replace(CONFIG, epochs=1), 100)
    rates = []
    for _ in range(100):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert max(range(100), key=rates.__getitem__) == 20


def test_warmup_cosine_warms_up_linearly_then_follows_half_a_cosine():
    config = dataclasses.replace(CONFIG, schedule="warmup_cosine", warmup_fraction=0.1, epochs=1)
    assert cnnlib_train.warmup_steps(config, 100) == 10
    opt = torch.optim.SGD(tiny_cnn().parameters(), lr=1.0)
    sched = cnnlib_train.loop._make_schedule(opt, config, 100)
    rates = []
    for _ in range(100):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert rates[:11] == pytest.approx([i / 10 for i in range(10)] + [1.0])
    assert rates[55] == pytest.approx(0.5 * (1 + math.cos(math.pi * 45 / 90)))  # halfway down: 0.5
    assert rates[55] == pytest.approx(0.5) and rates[-1] < 0.001


def test_mixup_and_cutmix_terms():
    from cnnlib.data import mix_batch

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 8, 8, generator=gen)
    y = torch.arange(16)
    same = mix_batch(x, y, generator=gen)
    state = gen.get_state()
    assert same.images is x and same.lam == 1.0 and same.kind == "none"
    assert torch.equal(gen.get_state(), state)  # nothing drawn: runs without mixing stay bit-identical
    mixed = mix_batch(x, y, mixup_alpha=1.0, generator=torch.Generator().manual_seed(1))
    partner = {int(lab): i for i, lab in enumerate(y)}
    rebuilt = torch.stack(
        [mixed.lam * x[i] + (1 - mixed.lam) * x[partner[int(p)]] for i, p in enumerate(mixed.partners)]
    )
    assert mixed.kind == "mixup" and 0 < mixed.lam < 1 and torch.allclose(mixed.images, rebuilt)
    assert sorted(mixed.partners.tolist()) == list(range(16))  # a permutation of the batch
    cut = mix_batch(x, y, cutmix_alpha=1.0, generator=torch.Generator().manual_seed(2))
    own = (cut.images == x).all(1).float().mean(dim=(1, 2))  # share of pixels still the image's own
    moved = cut.partners != y
    assert cut.kind == "cutmix" and torch.allclose(own[moved], torch.full_like(own[moved], cut.lam))
    both = {mix_batch(x, y, mixup_alpha=0.2, cutmix_alpha=1.0, generator=torch.Generator().manual_seed(s)).kind
            for s in range(20)}  # fmt: skip
    assert both == {"mixup", "cutmix"}
    with pytest.raises(ValueError, match=">= 0"):
        mix_batch(x, y, mixup_alpha=-1.0)


def test_ema_and_mixing_train_and_are_recorded():
    train, test = stripes(256, 0), stripes(128, 1)
    config = dataclasses.replace(CONFIG, ema_decay=0.9, mixup_alpha=0.2, cutmix_alpha=1.0, epochs=2)
    torch.manual_seed(0)
    model, averaged = tiny_cnn(), []
    history = fit(model, train, test, config, device="cpu", progress=False, ema_model=averaged)
    last = history["epochs"][-1]
    assert {"ema_test_loss", "ema_test_acc"} <= set(last) and len(averaged) == 1
    assert evaluate(averaged[0], test)["acc"] == pytest.approx(last["ema_test_acc"])
    weights = [p for p in averaged[0].parameters()]
    assert not all(torch.equal(a, b) for a, b in zip(weights, model.parameters()))  # an average, not a copy
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=1.0)


def test_records_without_later_fields_are_the_same_recipe():
    record = dataclasses.asdict(CONFIG)
    for later in ("mixup_alpha", "cutmix_alpha", "ema_decay"):
        del record[later]
    assert cnnlib_train.config_differences(record, CONFIG) == []
    assert cnnlib_train.config_differences(record, dataclasses.replace(CONFIG, ema_decay=0.99)) == ["ema_decay"]
