"""Experiments of chapter 10 (Interpreting CNNs), registered with :func:`cnnlib.experiments.experiment`
(``python -m cnnlib.experiments run NAME`` runs one and stores its result; see :mod:`cnnlib.experiments`).

All three use the ImageNet MobileNetV2 (the mirror's weights offline, torchvision's online) on
Imagenette's validation photos, at 224 x 224:

- ``interpret_faithfulness``: deletion and insertion curves (Petsiuk et al. 2018) of every
  attribution method and of a random order, on ``FAITHFULNESS_PHOTOS`` photos the model classifies
  correctly; also the time of each method per photo;
- ``interpret_sanity``: cascading randomisation (Adebayo et al. 2018, Fig. 2 and 4): the
  classifier and then the 19 feature blocks re-initialised from the top down, the rank
  correlation of each method's maps with the trained model's after every stage; the maps of one
  photo at some stages are kept (downsampled) for the figure;
- ``class_models``: class-model visualisations (Simonyan et al. 2014) of several ImageNet classes
  with all regularisers, and one class with each regulariser added in turn.
"""

from __future__ import annotations

import base64
import io
import time
from typing import Any

from ...experiments import experiment

FAITHFULNESS_PHOTOS = 32
FAITHFULNESS_STEPS = 20
SANITY_PHOTOS = 8
SANITY_SHOWN = (0, 1, 2, 5, 9, 13, 17, 20)  # stages whose maps of photo 0 are kept (0 = trained)
CLASS_MODEL_STEPS = 200
CLASS_MODEL_CLASSES = (0, 130, 217, 497, 566, 701)  # tench, flamingo, English springer, church, French horn, parachute
ABLATION_CLASS = 130  # flamingo


def method_factories(quick: bool = False, live: bool = False) -> dict[str, Any]:
    """name -> (model -> method) for the chapter's comparisons.

    The stored experiments use the library's defaults (occlusion: 16-pixel window, stride 8; SmoothGrad:
    25 samples; Integrated Gradients: 32 steps). ``live=True`` gives the lighter ones the notebook runs
    on a CPU in seconds (a 32-pixel window with stride 24; 16 samples; 16 steps); ``quick=True`` the
    smallest ones, for tests.
    """
    from ...interpret import (
        CAM,
        Deconvnet,
        GradCAM,
        GuidedBackprop,
        IntegratedGradients,
        Occlusion,
        Saliency,
        SmoothGrad,
    )

    window, stride, samples, steps = (56, 56, 2, 2) if quick else (32, 24, 16, 16) if live else (16, 8, 25, 32)
    return {
        "occlusion": lambda m: Occlusion(m, window=window, stride=stride),
        "gradient": Saliency,
        "smoothgrad": lambda m: SmoothGrad(m, samples=samples),
        "integrated gradients": lambda m: IntegratedGradients(m, steps=steps),
        "guided backprop": GuidedBackprop,
        "deconvnet": Deconvnet,
        "cam": CAM,
        "grad-cam": GradCAM,
    }


@experiment(
    "interpret_faithfulness",
    description="Petsiuk et al. 2018: deletion and insertion curves of 8 attribution methods and a random order, "
    "ImageNet MobileNetV2 on 32 correctly classified Imagenette photos",
)
def interpret_faithfulness(quick: bool = False) -> dict[str, Any]:
    import torch

    from ...interpret import area_under_curve, deletion_curve
    from .photos import imagenet_model, pick_examples

    model, source, photos = imagenet_model()
    n = 2 if quick else FAITHFULNESS_PHOTOS
    steps = 4 if quick else FAITHFULNESS_STEPS
    ex = pick_examples(model, photos, right=n, wrong=0, pool=96)
    target = ex.predictions
    methods: dict[str, Any] = {}
    gen = torch.Generator().manual_seed(0)
    factories = {"random": None, **method_factories(quick)}
    for name, factory in factories.items():
        start = time.perf_counter()
        if factory is None:
            maps = torch.rand(ex.x.shape[0], *ex.x.shape[2:], generator=gen)
        else:
            method = factory(model)
            maps = torch.cat([method.attribute(ex.x[i : i + 1], target[i : i + 1]) for i in range(n)])
        seconds = (time.perf_counter() - start) / n
        row: dict[str, Any] = {"seconds_per_photo": seconds}
        for mode in ("deletion", "insertion"):
            curve = deletion_curve(model, ex.x, target, maps, steps=steps, mode=mode)
            auc = area_under_curve(curve["fraction"], curve["probability"])
            row[mode] = {
                "probability": curve["probability"].mean(0).tolist(),
                "accuracy": curve["correct"].float().mean(0).tolist(),
                "auc": auc.mean().item(),
                "auc_se": (auc.std() / len(auc) ** 0.5).item() if len(auc) > 1 else 0.0,
            }
        methods[name] = row
    return {
        "model": "mobilenet_v2",
        "weights": source,
        "photos": n,
        "pool_indices": ex.indices,
        "steps": steps,
        "fraction": torch.linspace(0, 1, steps + 1).tolist(),
        "fill": "0 in normalised space (the ImageNet mean colour)",
        "insertion_canvas": "the photo blurred with a Gaussian of sigma 5 px",
        "methods": methods,
    }


def _stages(model) -> list[str]:
    """Cascading order for MobileNetV2: the classifier, then features.18 down to features.0."""
    return ["classifier.1"] + [f"features.{i}" for i in range(len(model.features) - 1, -1, -1)]


@experiment(
    "interpret_sanity",
    description="Adebayo et al. 2018: cascading randomisation of the ImageNet MobileNetV2 (classifier, then 19 "
    "feature blocks, top down), rank correlation of 5 methods' maps with the trained model's, 8 photos",
)
def interpret_sanity(quick: bool = False) -> dict[str, Any]:
    import torch.nn.functional as F

    from ...interpret.sanity import cascade
    from .photos import imagenet_model, pick_examples

    model, source, photos = imagenet_model()
    n = 1 if quick else SANITY_PHOTOS
    ex = pick_examples(model, photos, right=n, wrong=0, pool=96)
    factories = {k: v for k, v in method_factories(quick).items() if k in
                 ("gradient", "smoothgrad", "integrated gradients", "guided backprop", "grad-cam")}  # fmt: skip
    stages = _stages(model)[: 3 if quick else None]
    shown = [s for s in SANITY_SHOWN if s <= len(stages)]
    kept: dict[str, list] = {name: [] for name in factories}

    def keep(stage: int, name: str, maps) -> None:
        """Photo 0's map at the shown stages, 56 x 56, scaled to [-1, 1] (random nets' maps are tiny)."""
        if stage in shown:
            small = F.adaptive_avg_pool2d(maps[:1, None], 56)[0, 0]
            small = small / small.abs().max().clamp_min(1e-30)
            kept[name].append([[round(float(v), 4) for v in row] for row in small])

    rows = cascade(model, factories, ex.x, ex.predictions, stages, seed=1, keep=keep)
    return {
        "model": "mobilenet_v2",
        "weights": source,
        "photos": n,
        "stages": ["none"] + stages,
        "shown_stages": [(["none"] + stages)[s] for s in shown],
        "photo0_pool_index": ex.indices[0],
        "rows": rows,
        "maps": kept,
        "randomised": "Conv2d and Linear weights re-initialised (PyTorch's default); batch norms kept",
    }


def encode_png(image_uint8) -> str:
    """A C x H x W uint8 tensor as a base64 PNG string (stored results are JSON)."""
    from PIL import Image

    arr = image_uint8.permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(arr if arr.shape[2] == 3 else arr[:, :, 0]).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def decode_png(text: str):
    """The inverse of :func:`encode_png`: a C x H x W uint8 tensor."""
    import numpy as np
    import torch
    from PIL import Image

    arr = np.array(Image.open(io.BytesIO(base64.b64decode(text))).convert("RGB"))
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def to_uint8(x, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)):
    """A normalised 1 x C x H x W image back to C x H x W uint8 (clipped to [0, 1] first)."""
    import torch

    m, s = torch.tensor(mean).view(-1, 1, 1), torch.tensor(std).view(-1, 1, 1)
    return ((x[0] * s + m).clamp(0, 1) * 255).round().to(torch.uint8)


ABLATION = {  # regularisers added one at a time (l2 is always on: the paper's penalty)
    "L2 only (the paper)": dict(jitter=0, blur_every=0, clip=False),
    "+ clipping": dict(jitter=0, blur_every=0, clip=True),
    "+ jitter": dict(jitter=8, blur_every=0, clip=True),
    "+ blur (all)": dict(jitter=8, blur_every=4, clip=True),
}


@experiment(
    "class_models",
    description="Simonyan et al. 2014 class-model visualisations of 6 ImageNet classes with the ImageNet MobileNetV2 "
    "(200 steps of gradient ascent, all regularisers), and one class with the regularisers added one by one",
)
def class_models(quick: bool = False) -> dict[str, Any]:
    from ...data.imagenet import imagenet_classes
    from ...interpret import ClassModel
    from .photos import imagenet_model

    model, source, _ = imagenet_model()
    steps = 3 if quick else CLASS_MODEL_STEPS
    size = (3, 64, 64) if quick else (3, 224, 224)
    names = imagenet_classes()
    classes = CLASS_MODEL_CLASSES[:2] if quick else CLASS_MODEL_CLASSES
    out: dict[str, Any] = {"model": "mobilenet_v2", "weights": source, "steps": steps, "size": list(size)}
    settings = dict(steps=steps, lr=0.05, l2=1e-3)
    out["settings"] = {**settings, "jitter": 8, "blur_every": 4, "blur_sigma": 0.5, "clip": True}
    out["classes"] = []
    for c in classes:
        start = time.perf_counter()
        vis = ClassModel(model, **settings).generate(c, size=size, seed=0)
        out["classes"].append({"index": c, "name": names[c], "png": encode_png(to_uint8(vis.image)),
                               "score": vis.scores[-1], "probability": vis.probability,
                               "seconds": time.perf_counter() - start})  # fmt: skip
    out["ablation_class"] = {"index": ABLATION_CLASS, "name": names[ABLATION_CLASS]}
    out["ablation"] = []
    for label, switches in ABLATION.items():
        vis = ClassModel(model, **settings, **switches).generate(ABLATION_CLASS, size=size, seed=0)
        out["ablation"].append({"label": label, "switches": switches, "png": encode_png(to_uint8(vis.image)),
                                "score": vis.scores[-1], "probability": vis.probability})  # fmt: skip
    return out
