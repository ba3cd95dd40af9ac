"""The capacity argument of chapter 06, made concrete: a deeper CIFAR net can compute exactly what a
shallower one computes, so its worse training error is not a lack of representational power.

He et al. 2016 (Sec. 1): "there exists a solution by construction to the deeper model: the added
layers are identity mapping, and the other layers are copied from the learned shallower model."
:func:`embed_shallow` builds that solution from two of cnnlib's ``CifarResNet`` (plain or residual).
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from ...models.resnet import CifarResNet

__all__ = ["embed_shallow", "make_identity_block"]

STAGES = ("layer1", "layer2", "layer3")


@torch.no_grad()
def make_identity_block(block: nn.Module) -> None:
    """Set a shape-preserving basic block's weights so that it passes a non-negative input unchanged.

    Residual block ``relu(F(x) + x)``: the last BN's scale and shift set to zero, so F(x) = 0.
    Plain block ``relu(bn2(conv2(relu(bn1(conv1(x))))))``: both convolutions the identity kernel
    (a Dirac delta) and both BNs the identity (running mean 0, running variance 1 - eps, scale 1,
    shift 0); the ReLUs then pass the non-negative input (the previous block's ReLU output) as is.
    """
    if block.conv1.stride != (1, 1) or block.conv1.in_channels != block.conv2.out_channels:
        raise ValueError("only a block whose output has its input's shape can be the identity")
    if block.residual:
        block.bn2.weight.zero_()
        block.bn2.bias.zero_()
        return
    for conv, bn in ((block.conv1, block.bn1), (block.conv2, block.bn2)):
        nn.init.dirac_(conv.weight)
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)
        bn.weight.fill_(1.0)
        bn.bias.zero_()


def embed_shallow(shallow: CifarResNet, deep: CifarResNet) -> CifarResNet:
    """A copy of ``deep`` that computes what ``shallow`` computes: the stem, each stage's first blocks
    and the classifier copied from ``shallow``, every further block made the identity
    (:func:`make_identity_block`). Both nets must have the same widths and the same kind of block."""
    if type(shallow) is not CifarResNet or type(deep) is not CifarResNet:
        raise TypeError("embed_shallow takes two cnnlib CifarResNet models (e.g. zoo's plain20 and plain56)")
    out = copy.deepcopy(deep).eval()
    with torch.no_grad():
        out.stem.load_state_dict(shallow.stem.state_dict())
        out.fc.load_state_dict(shallow.fc.state_dict())
        for stage in STAGES:
            small, big = shallow.get_submodule(stage), out.get_submodule(stage)
            if len(small) > len(big):
                raise ValueError(f"{stage}: the 'shallow' net has more blocks ({len(small)}) than the deep one")
            for i, block in enumerate(big):
                if i < len(small):
                    if small[i].residual != block.residual:
                        raise ValueError("both nets must be plain, or both residual")
                    block.load_state_dict(small[i].state_dict())
                else:
                    make_identity_block(block)
    return out
