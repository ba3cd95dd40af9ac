"""RepVGG: the fused plain stack computes what the multi-branch network computes, and the counts are the paper's."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import cnnlib
from cnnlib.models import build_on_meta
from cnnlib.models.repvgg import (
    RepVGGBlock,
    RepVGGConfig,
    fuse_conv_bn,
    identity_kernel,
    official_key,
    pad_1x1_to_3x3,
    reparameterized,
)
from cnnlib.testing import accumulated_terms, assert_close_up_to_rounding


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def give_bns_statistics(
    model: nn.Module, input_shape: tuple[int, ...], seed: int = 0, dtype: torch.dtype = torch.float32
) -> nn.Module:
    """Random BN gamma/beta, then running statistics measured on random data; returns the model in eval mode.

    Fresh BNs (gamma 1, beta 0, mean 0, var 1) would make the fusion test too easy.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)  # gamma in [0.5, 1.5)
                m.bias.copy_(torch.rand(m.num_features, generator=gen) - 0.5)  # beta in [-0.5, 0.5)
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batches
        model.train()
        for _ in range(3):
            model(torch.randn(*input_shape, generator=gen, dtype=dtype) * 2 + 0.3)
    return model.eval()


# --------------------------------------------------------------------------- parameter counts


@pytest.mark.parametrize(
    "name, train_params, deploy_params",
    [
        # Deploy counts: Ding et al. 2021, Table 4 (8.30 M, 12.78 M, 14.33 M, truncated); REFERENCES.md rounds
        # A0 to 8.31 M deploy, 9.11 M train-time. The exact integers are what the official code's structure
        # (DingXiaoH/RepVGG repvgg.py) gives; the Keras port hoangthang1607/RepVGG-Tensorflow-2 lists
        # A0 8,309,384 / A1 12,789,864 / B0 14,339,048 deploy too (its train-time figures add BN running stats:
        # see test_keras_train_time_count_adds_the_running_statistics).
        ("repvgg_a0", 9_108_968, 8_309_384),
        ("repvgg_a1", 14_092_264, 12_789_864),
        ("repvgg_b0", 15_817_960, 14_339_048),
        ("repvgg_a0_cifar", 7_840_874, 7_041_194),  # our CIFAR adaptation at 10 classes (no published figure)
    ],
)
def test_parameter_counts(name, train_params, deploy_params):
    model = cnnlib.get_model(name)
    assert n_params(model) == train_params
    assert n_params(cnnlib.get_model(name, deploy=True)) == deploy_params
    assert n_params(reparameterized(model)) == deploy_params


def test_a0_counts_round_to_the_published_figures():
    assert round(n_params(build_on_meta("repvgg_a0")) / 1e6, 2) == 9.11  # REFERENCES.md, train-time
    deploy = n_params(build_on_meta("repvgg_a0", deploy=True))
    assert round(deploy / 1e6, 2) == 8.31  # REFERENCES.md
    assert int(deploy / 1e4) / 100 == 8.30  # the paper's Table 4 truncates


def test_fused_a0_multiply_adds_match_the_paper():
    """REFERENCES.md: 1.36 GFLOPs (multiply-adds) for RepVGG-A0 at 224 px after conversion."""
    from cnnlib.analysis.summary import count_mult_adds

    macs = count_mult_adds(cnnlib.get_model("repvgg_a0", deploy=True), (3, 224, 224))
    assert macs == 1_361_451_008  # 1,360,171,008 in the 3x3 convolutions + 1,280,000 in the classifier
    assert round(macs / 1e9, 2) == 1.36


def test_keras_train_time_count_adds_the_running_statistics():
    """Keras ports print 9,132,616 for RepVGG-A0 (hoangthang1607/RepVGG-Tensorflow-2; kimm's README):
    Keras counts BN's moving mean and variance as (non-trainable) parameters, PyTorch keeps them as buffers."""
    model = build_on_meta("repvgg_a0")
    running = sum(b.numel() for name, b in model.named_buffers() if "running" in name)
    assert n_params(model) + running == 9_132_616


# --------------------------------------------------------------------------- the fusion, step by step


def test_fuse_conv_bn_is_the_eval_mode_bn_of_the_conv():
    conv = nn.Conv2d(4, 6, 3, padding=1, bias=False)
    bn = give_bns_statistics(nn.Sequential(conv, nn.BatchNorm2d(6)), (8, 4, 5, 5))[1]
    kernel, bias = fuse_conv_bn(conv.weight, bn)
    x = torch.randn(2, 4, 5, 5)
    expected = bn(conv(x))
    # folding BN into the kernel rounds each product differently: rounding of the conv's 4 * 3 * 3 terms
    assert_close_up_to_rounding(
        nn.functional.conv2d(x, kernel, bias, padding=1),
        expected,
        terms=4 * 3 * 3,
        what="conv with folded BN and conv then BN",
    )


def test_padded_1x1_and_identity_kernels():
    x = torch.randn(2, 5, 7, 7)
    k1 = torch.randn(3, 5, 1, 1)
    # the padded kernel's zeros add nothing, but a 3x3 convolution may run another kernel (another summation
    # order) than a 1x1: rounding of the 3x3 convolution's 5 * 3 * 3 terms
    assert_close_up_to_rounding(
        nn.functional.conv2d(x, pad_1x1_to_3x3(k1), padding=1, stride=2),
        nn.functional.conv2d(x, k1, stride=2),
        terms=5 * 3 * 3,
        what="3x3 conv with the padded 1x1 kernel and the 1x1 conv",
    )
    # exact in any summation order: each output is one input times 1.0 plus products with 0.0
    assert torch.equal(nn.functional.conv2d(x, identity_kernel(5, like=x), padding=1), x)


@pytest.mark.parametrize(
    "in_channels, out_channels, stride, has_identity",
    [(8, 8, 1, True), (8, 16, 1, False), (8, 8, 2, False), (8, 16, 2, False)],
)
@pytest.mark.parametrize("size", [8, 9])  # odd sizes: the 1x1 and 3x3 branches must still land on the same pixels
def test_block_fused_equals_multi_branch(in_channels, out_channels, stride, has_identity, size):
    block = RepVGGBlock(in_channels, out_channels, stride)
    assert (block.identity is not None) == has_identity
    give_bns_statistics(block, (16, in_channels, size, size))
    x = torch.randn(4, in_channels, size, size)
    expected = block(x)
    block.reparameterize()
    assert block.is_fused and block.conv3x3 is None and block.conv1x1 is None and block.identity is None
    assert block.fused.kernel_size == (3, 3) and block.fused.stride == (stride, stride)
    out = block(x)
    assert out.shape == expected.shape
    # the fused 3x3 kernel sums in_channels * 3 * 3 products per output, like the multi-branch 3x3 branch
    assert_close_up_to_rounding(out, expected, terms=in_channels * 3 * 3, what="fused and multi-branch block")


def test_block_fusion_is_exact_up_to_float_rounding():
    """In float64 the two forms agree to float64 rounding (about 1e-14 of the outputs): the differences of the
    float32 tests are rounding, not approximation."""
    block = RepVGGBlock(6, 6, 1).double()
    give_bns_statistics(block, (16, 6, 7, 7), dtype=torch.float64)
    x = torch.randn(3, 6, 7, 7, dtype=torch.float64)
    expected = block(x)
    assert_close_up_to_rounding(
        block.reparameterize()(x), expected, terms=6 * 3 * 3, what="float64 fused and multi-branch block"
    )


@pytest.mark.parametrize("name, size", [("repvgg_a0_cifar", 32), ("repvgg_a0", 64)])
def test_whole_model_fused_equals_multi_branch(name, size):
    torch.manual_seed(0)
    model = give_bns_statistics(cnnlib.get_model(name), (8, 3, size, size))
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        expected_features, expected = model.forward_features(x), model(x)
        fused = reparameterized(model)
        assert not model.is_fused  # the original keeps its branches
        assert fused.is_fused
        # rounding accumulates through all the layers: the summed fan-in of the multi-branch network
        terms = accumulated_terms(model)
        assert_close_up_to_rounding(
            fused.forward_features(x), expected_features, terms=terms, what=f"{name} fused and multi-branch features"
        )
        assert_close_up_to_rounding(fused(x), expected, terms=terms, what=f"{name} fused and multi-branch logits")
        assert expected.abs().max() > 1e-2  # not a trivially zero output


def test_fused_model_is_a_plain_stack_of_3x3_convolutions():
    model = reparameterized(cnnlib.get_model("repvgg_a0_cifar"))
    leaves = [m for m in model.modules() if not list(m.children())]
    kinds = {type(m) for m in leaves}
    assert kinds == {nn.Conv2d, nn.ReLU, nn.AdaptiveAvgPool2d, nn.Linear}
    convs = [m for m in leaves if isinstance(m, nn.Conv2d)]
    assert len(convs) == sum(RepVGGConfig(depths=(1, 2, 4, 14, 1), a=0.75, b=2.5).depths) == 22
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) and c.bias is not None for c in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_deploy_builder_has_the_fused_layout():
    """``deploy=True`` builds the plain form directly; a fused state_dict loads into it with strict=True."""
    fused = reparameterized(cnnlib.get_model("repvgg_a0_cifar")).eval()
    deploy = cnnlib.get_model("repvgg_a0_cifar", deploy=True).eval()
    deploy.load_state_dict(fused.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(deploy(x), fused(x))  # exact: the same layers and weights run the same operations


def test_fusing_twice_is_a_no_op_and_training_mode_fuses_the_eval_function():
    model = give_bns_statistics(cnnlib.get_model("repvgg_a0_cifar"), (4, 3, 32, 32))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)  # eval mode
        terms = accumulated_terms(model)  # of the multi-branch form, before fusing
        model.train()  # fusing in training mode still uses the running statistics
        assert model.reparameterize() is model and model.training
        once = {k: v.clone() for k, v in model.state_dict().items()}
        model.reparameterize()
        assert all(torch.equal(once[k], v) for k, v in model.state_dict().items())
        # without BNs, train and eval mode compute the same function
        assert_close_up_to_rounding(
            model(x), expected, terms=terms, what="model fused in training mode and the multi-branch model in eval mode"
        )
        assert torch.equal(model.eval()(x), model.train()(x))  # exact: the same operations, with no BN left to differ


def test_equivalent_kernel_is_differentiable():
    block = RepVGGBlock(4, 4)
    kernel, bias = block.equivalent_kernel_bias()
    (kernel.sum() + bias.sum()).backward()
    assert block.conv3x3[0].weight.grad is not None and block.identity.weight.grad is not None


def test_official_checkpoint_keys_map_onto_ours():
    """Key names of DingXiaoH/RepVGG's repvgg.py (train-time and deploy) map onto our state_dict keys."""
    train_keys = set(build_on_meta("repvgg_a0").state_dict())
    for official in [
        "stage0.rbr_dense.conv.weight",
        "stage0.rbr_1x1.bn.running_var",
        "stage1.0.rbr_dense.bn.weight",
        "stage1.1.rbr_identity.running_mean",
        "stage3.13.rbr_1x1.conv.weight",
        "stage4.0.rbr_dense.bn.bias",
        "linear.weight",
    ]:
        assert official_key(official) in train_keys, official
    deploy_keys = set(build_on_meta("repvgg_a0", deploy=True).state_dict())
    assert official_key("stage2.3.rbr_reparam.bias") in deploy_keys
    assert official_key("stage0.rbr_reparam.weight") in deploy_keys


# --------------------------------------------------------------------------- configuration (input errors: test_inputs)


def test_config_rejects_a_multi_layer_first_stage():
    with pytest.raises(ValueError, match="stage 1 is a single layer"):
        RepVGGConfig(depths=(2, 2, 4, 14, 1), a=0.75, b=2.5)
