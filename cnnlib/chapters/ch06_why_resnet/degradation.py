"""Chapter 06's report from the zoo's logs: the degradation experiment of He et al. 2016 (Fig. 1 and 6).

Plain-20 and plain-56 (no shortcuts) beside ResNet-20 and ResNet-56, all trained with one recipe:
the deeper plain net has the *higher* training error, the deeper ResNet the lower. The section
is appended to the zoo's ``RESULTS.md`` by ``python -m cnnlib.zoo table``.
"""

from __future__ import annotations

from typing import Any

from ...zoo import read_log

__all__ = ["DEGRADATION_QUARTET", "PUBLISHED_TEST_ERROR", "degradation_section", "degradation_summary"]


# He et al. (2016), "Deep residual learning for image recognition", Table 6: CIFAR-10 test error (%).
# The plain nets have no table row; their Fig. 6 shows plain-56 above plain-20 in training *and* test error.
PUBLISHED_TEST_ERROR = {"resnet20": 8.75, "resnet56": 6.97}
DEGRADATION_QUARTET = {"plain20": 20, "plain56": 56, "resnet20": 20, "resnet56": 56}  # entry -> weighted layers


def degradation_summary() -> list[dict[str, Any]]:
    """The degradation quartet (He et al. Fig. 1 and 6) from the logs: one row per entry.

    Each row: ``name``, ``depth``, ``shortcuts``, and for a trained entry ``train_error_last_epoch``
    (the mean over the last epoch's augmented batches: the last point of a training curve),
    ``train_error_clean`` (the stored weights on the un-augmented training set), ``test_error`` and
    ``published_test_error`` (or None), all in percent; an untrained entry has None there.
    """
    rows = []
    for name, depth in DEGRADATION_QUARTET.items():
        log = read_log(name)
        row: dict[str, Any] = {
            "name": name,
            "depth": depth,
            "shortcuts": name.startswith("resnet"),
            "published_test_error": PUBLISHED_TEST_ERROR.get(name),
        }
        if log is None:
            row.update(train_error_last_epoch=None, train_error_clean=None, test_error=None)
        else:
            row.update(
                train_error_last_epoch=100 * (1 - log["epochs"][-1]["train_acc"]),
                train_error_clean=100 * (1 - log["stored"]["train_acc_clean"]),
                test_error=100 * (1 - log["stored"]["test_acc"]),
            )
        rows.append(row)
    return rows


def degradation_section() -> list[str]:
    """The report as Markdown lines: the quartet's table and, per pair, whether depth raised the training error."""

    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.2f} %"

    rows = degradation_summary()
    lines = [
        "## The degradation experiment (He et al. 2016, Fig. 1 and 6)",
        "",
        "Same recipe, same number of epochs. Train error, last epoch: the mean over that epoch's augmented batches "
        "(the last point of a training curve); clean: the stored weights on the un-augmented training set. "
        "Published: He et al. Table 6 (test error; the plain nets appear only in Fig. 6).",
        "",
        (
            "| entry | layers | shortcuts | train error, last epoch | train error, clean | test error "
            "| published test error |"
        ),
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['depth']} | {'identity' if r['shortcuts'] else 'none'} "
            f"| {fmt(r['train_error_last_epoch'])} "
            f"| {fmt(r['train_error_clean'])} | {fmt(r['test_error'])} | {fmt(r['published_test_error'])} |"
        )
    by_name = {r["name"]: r for r in rows}
    lines.append("")
    for shallow, deep, expected in (("plain20", "plain56", "higher"), ("resnet20", "resnet56", "lower")):
        a, b = by_name[shallow], by_name[deep]
        if a["train_error_last_epoch"] is None or b["train_error_last_epoch"] is None:
            missing = " and ".join(n for n in (shallow, deep) if by_name[n]["train_error_last_epoch"] is None)
            lines.append(
                f"- {deep} vs {shallow}: waits for {missing} "
                f"(`python -m cnnlib.zoo train {missing.split(' and ')[0]}`)."
            )
            continue
        diff = b["train_error_last_epoch"] - a["train_error_last_epoch"]
        found = "higher" if diff > 0.005 else "lower" if diff < -0.005 else "the same"
        verdict = "as in the paper" if found == expected else f"the paper finds it {expected}"
        lines.append(f"- {deep} vs {shallow}: last-epoch train error {diff:+.2f} points, {found} ({verdict}).")
    return lines
