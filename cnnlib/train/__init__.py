"""Training: a frozen config, the loop, the speed rule, live runs on a budget, resumable runs.

- :mod:`.config`: :class:`TrainConfig` (what defines a run), :class:`SpeedSettings` (how it runs);
- :mod:`.speed`: the speed rule that measures bfloat16 and channels-last before using them;
- :mod:`.loop`: :func:`fit`, :func:`train_one_epoch`, :func:`predict`, :func:`evaluate`;
- :mod:`.plan`: :func:`plan_training`, which fits a lecture's run into a cell's budget;
- :mod:`.resume`: the state file that lets a run survive interruptions.

The machine-level helpers (device, threads, seeds, the hardware line) are in :mod:`cnnlib.runtime`.
"""

from .config import SpeedSettings, TrainConfig
from .loop import evaluate, fit, predict, steps_per_epoch, train_one_epoch, warmup_steps
from .plan import TrainingPlan, plan_training
from .resume import config_differences, read_resume_file
from .speed import choose_speed_settings, cpu_has_bf16, measure_training_speed, speed_candidates

__all__ = [
    "SpeedSettings",
    "TrainConfig",
    "TrainingPlan",
    "choose_speed_settings",
    "cpu_has_bf16",
    "config_differences",
    "evaluate",
    "fit",
    "measure_training_speed",
    "plan_training",
    "predict",
    "read_resume_file",
    "speed_candidates",
    "steps_per_epoch",
    "train_one_epoch",
    "warmup_steps",
]
