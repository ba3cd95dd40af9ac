"""cnnlib.interpret on a real photo: the time of each attribution method, and its agreement with the reference library.

The ImageNet MobileNetV2 with pretrained weights (``cnnlib.pretrained.pretrained_mobilenet_v2``, the course
mirror's copy: set ``$CNNLIB_MIRROR``) explains its own prediction for one 224 x 224 Imagenette validation photo,
normalised with ImageNet's mean and std. For each method:

- the wall time of one ``attribute`` call on that one photo (median of ``--repeats`` runs after one warm-up run;
  occlusion with a 16-pixel window, stride 8, 64 occluded copies per forward pass: 27 x 27 = 729 of them);
- the agreement with the reference implementation on the same photo: the largest absolute difference relative to
  the reference's largest magnitude (on the per-channel tensors where the method has them; Grad-CAM: the min-max
  normalised maps, so the difference itself), and Spearman's rank correlation of the two ``H x W`` maps.

References: captum's Occlusion, Saliency, NoiseTunnel(Saliency), IntegratedGradients (``riemann_middle``),
GuidedBackprop and Deconvolution; pytorch-grad-cam's GradCAM. For SmoothGrad captum draws its noise from torch's
global generator, seeded 0 here; with this torch, for one image in batches of 16, those are the same draws as our
``seed=0``, so the maps can agree exactly (with other draws the agreement would only be statistical).
MobileNetV2's activations are ReLU6, which captum's GuidedBackprop and Deconvolution do not hook (on the
model as it is they return the plain gradient): they run on a copy whose ReLU6 modules are an ``nn.ReLU`` subclass
computing ReLU6, so that captum applies its rule to them (the same rule as ours). No library implements CAM: it is
checked against the identity Grad-CAM = ReLU(CAM) / (h w) at the last layer, which holds for a GAP + linear head.

Not a test (tests/test_interpret_crosscheck.py is, on random weights): the times depend on the machine and on what
else runs on it. Usage (from the repository root)::

    CNNLIB_MIRROR=../shared/mirror python benchmarks/interpret_check.py [--index 0] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from cnnlib.analysis.metrics import spearman
from cnnlib.analysis.summary import median_seconds
from cnnlib.data import imagenet_classes, load, normalize
from cnnlib.interpret import (
    CAM,
    Deconvnet,
    GradCAM,
    GuidedBackprop,
    IntegratedGradients,
    Occlusion,
    Saliency,
    SmoothGrad,
)
from cnnlib.pretrained import pretrained_mobilenet_v2
from cnnlib.runtime import hardware_summary, use_all_cores
from cnnlib.testing import relu6_visible_to_captum

SMOOTHGRAD_SAMPLES, SMOOTHGRAD_NOISE = 25, 0.15
IG_STEPS = 32
WINDOW, STRIDE, OCCLUSION_BATCH = 16, 8, 64


def minmax(maps: Tensor) -> Tensor:
    low, high = maps.amin((-2, -1), keepdim=True), maps.amax((-2, -1), keepdim=True)
    return (maps - low) / (high - low)


def references(model: nn.Module, x: Tensor, target: int) -> dict[str, Callable[[], tuple[Tensor, Tensor]]]:
    """Method name -> a function computing the reference's (tensor to compare, H x W map to rank)."""
    import captum.attr as ca
    from pytorch_grad_cam import GradCAM as ReferenceGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    probe = relu6_visible_to_captum(model)
    sigma = SMOOTHGRAD_NOISE * (x.max() - x.min()).item()

    def occlusion():
        ref = ca.Occlusion(model).attribute(
            x, sliding_window_shapes=(3, WINDOW, WINDOW), strides=(3, STRIDE, STRIDE), baselines=0.0, target=target,
            perturbations_per_eval=OCCLUSION_BATCH,
        )  # fmt: skip
        return ref, ref[:, 0]

    def gradient():
        ref = ca.Saliency(model).attribute(x, target=target, abs=False)
        return ref, ref.abs().amax(1)

    def smoothgrad():
        torch.manual_seed(0)
        ref = ca.NoiseTunnel(ca.Saliency(model)).attribute(
            x, nt_type="smoothgrad", nt_samples=SMOOTHGRAD_SAMPLES, nt_samples_batch_size=16, stdevs=sigma,
            target=target, abs=False,
        )  # fmt: skip
        return ref, ref.abs().amax(1)

    def integrated_gradients():
        ref = ca.IntegratedGradients(model).attribute(
            x, baselines=0.0, target=target, n_steps=IG_STEPS, method="riemann_middle", internal_batch_size=32
        )
        return ref, ref.sum(1)

    def guided(cls):
        def run():
            ref = cls(probe).attribute(x, target=target)
            return ref, ref.abs().amax(1)

        return run

    def cam_identity():  # Grad-CAM = ReLU(CAM) / hw for a GAP + linear head
        maps = GradCAM(model, upsample=False).attribute(x, target)
        return maps, maps

    def grad_cam():
        layer = model.get_submodule(GradCAM(model).layer_name)
        with ReferenceGradCAM(model=model, target_layers=[layer]) as cam:
            ref = torch.from_numpy(cam(input_tensor=x, targets=[ClassifierOutputTarget(target)]))
        model.zero_grad(set_to_none=True)  # pytorch-grad-cam's loss.backward() filled param.grad
        return ref, ref

    return {
        "occlusion": occlusion,
        "gradient": gradient,
        "smoothgrad": smoothgrad,
        "integrated gradients": integrated_gradients,
        "guided backprop": guided(ca.GuidedBackprop),
        "deconvnet": guided(ca.Deconvolution),
        "cam": cam_identity,
        "grad-cam": grad_cam,
    }


def relu_cam_over_hw(model: nn.Module, x: Tensor, target: int) -> Tensor:
    cam = CAM(model, upsample=False).attribute(x, target)
    return F.relu(cam) / cam[0].numel()


def load_average() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg()) + " (1 / 5 / 15 min)"
    except OSError:  # not available on Windows
        return "unknown"


def ours(model: nn.Module, x: Tensor, target: int) -> dict[str, tuple[Callable[[], Tensor], Callable[[], Tensor]]]:
    """Method name -> (the timed ``attribute`` call, the tensor compared with the reference)."""
    methods = {
        "occlusion": Occlusion(model, window=WINDOW, stride=STRIDE, batch_size=OCCLUSION_BATCH),
        "gradient": Saliency(model),
        "smoothgrad": SmoothGrad(model, samples=SMOOTHGRAD_SAMPLES, noise=SMOOTHGRAD_NOISE),
        "integrated gradients": IntegratedGradients(model, steps=IG_STEPS),
        "guided backprop": GuidedBackprop(model),
        "deconvnet": Deconvnet(model),
        "cam": CAM(model),
        "grad-cam": GradCAM(model),
    }
    out = {}
    for name, method in methods.items():
        attribute = (lambda m: lambda: m.attribute(x, target))(method)
        if name == "cam":
            compared = (lambda m: lambda: relu_cam_over_hw(m, x, target))(model)
        elif name == "grad-cam":
            compared = (lambda a: lambda: minmax(a()))(attribute)
        else:
            compared = (lambda m: lambda: m.attribute_channels(x, target))(method)
        out[name] = (attribute, compared)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=int, default=0, help="which Imagenette validation photo (default 0)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method, after one warm-up run")
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: one per logical CPU, or $CNNLIB_THREADS)"
    )
    args = parser.parse_args()

    use_all_cores(args.threads)
    print(hardware_summary(torch.device("cpu")))
    print(f"load average before: {load_average()} (other processes slow every time below)")
    model, source = pretrained_mobilenet_v2()
    print(f"weights: {source}")
    photos = load("imagenette", "val")
    x = normalize(photos.images[args.index : args.index + 1], photos.spec.mean, photos.spec.std)
    names = imagenet_classes()
    with torch.no_grad():
        probs = model(x).softmax(1)[0]
    target = int(probs.argmax())
    print(
        f"photo: Imagenette val #{args.index} ({photos.classes[int(photos.labels[args.index])]}), "
        f"{tuple(x.shape[1:])}; explained: the prediction, class {target} ({names[target]}, p = {probs[target]:.3f})"
    )
    print(
        f"settings: occlusion window {WINDOW} stride {STRIDE} batch {OCCLUSION_BATCH}; SmoothGrad {SMOOTHGRAD_SAMPLES} "
        f"samples, noise {SMOOTHGRAD_NOISE} of the range; IG {IG_STEPS} steps (midpoint), baseline 0; Grad-CAM and "
        f"CAM at {GradCAM(model).layer_name} (7 x 7); median of {args.repeats} runs after 1 warm-up\n"
    )
    refs, mine = references(model, x, target), ours(model, x, target)
    print(f"{'method':<21} {'ms / photo':>10}  {'max |diff| / max |ref|':>22}  {'Spearman':>8}  reference")
    labels = {
        "occlusion": "captum Occlusion",
        "gradient": "captum Saliency",
        "smoothgrad": "captum NoiseTunnel(Saliency), global seed 0",
        "integrated gradients": "captum IntegratedGradients riemann_middle",
        "guided backprop": "captum GuidedBackprop (ReLU6 made visible)",
        "deconvnet": "captum Deconvolution (ReLU6 made visible)",
        "cam": "identity Grad-CAM = ReLU(CAM) / hw (no library has CAM)",
        "grad-cam": "pytorch-grad-cam GradCAM, min-max normalised",
    }
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # captum's notes on hooks and requires_grad
        for name, (attribute, compared) in mine.items():
            seconds = median_seconds(attribute, warmup=1, repeats=args.repeats)
            reference, reference_map = refs[name]()
            mine_tensor = compared()
            rel = (mine_tensor - reference).abs().max().item() / reference.abs().max().item()
            if name == "cam":
                rho = spearman(mine_tensor[0], reference_map[0])
            else:
                rho = spearman(attribute()[0], reference_map[0])
            print(f"{name:<21} {seconds * 1e3:10.0f}  {rel:22.2e}  {rho:8.4f}  {labels[name]}")
    print(f"\n(all methods and references: {time.perf_counter() - start:.0f} s)")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
