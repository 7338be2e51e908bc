"""Quantizer: exact integer grids, MSE clipping, the (kernel, QBN) table and activation ranges."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autoq_env import quant
from autoq_env.quant import ActivationQuantizer, KernelWiseWeights, kernel_codes, quantize_kernels, signed_levels


@settings(max_examples=40, deadline=None)
@given(qbn=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_b_bit_kernel_has_at_most_2_to_the_b_values_on_its_grid(qbn: int, seed: int) -> None:
    weight = torch.randn(6, 4, 3, 3, generator=torch.Generator().manual_seed(seed))
    quantized, scale = quantize_kernels(weight, qbn)
    for kernel in range(weight.shape[0]):
        values = quantized[kernel].unique()
        assert len(values) <= 2 ** qbn
        integers = values.double() / scale[kernel].double()
        assert torch.allclose(integers, integers.round(), atol=1e-4)  # every value is scale * integer
        assert integers.abs().max() <= signed_levels(qbn) + 1e-4


def test_mse_clipping_beats_max_scaling_and_error_falls_with_bits() -> None:
    weight = torch.randn(8, 64, generator=torch.Generator().manual_seed(0)) ** 3  # heavy tails
    errors = []
    for qbn in range(2, 9):
        quantized, _ = quantize_kernels(weight, qbn)
        error = (quantized - weight).pow(2).sum(1)
        max_scale = weight.abs().amax(1, keepdim=True) / signed_levels(qbn)
        naive = (torch.clamp(torch.round(weight / max_scale), -signed_levels(qbn), signed_levels(qbn)) * max_scale
                 - weight).pow(2).sum(1)
        assert torch.all(error <= naive * (1 + 1e-5))  # float32 round-off aside, never worse
        errors.append(float(error.sum()))
    assert errors == sorted(errors, reverse=True)


def test_table_gather_picks_each_kernels_codes_and_step() -> None:
    weight = torch.randn(5, 3, 3, 3, generator=torch.Generator().manual_seed(1))
    table = KernelWiseWeights(weight, range(2, 9))
    assert table.codes.dtype == torch.int8 and table.codes.shape == (7, 5, 3, 3, 3)
    assert table.steps.dtype == torch.float32 and table.steps.shape == (7, 5)
    kernel_qbn = np.array([2, 8, 4, 4, 3])
    codes, steps = table.gather(kernel_qbn)
    for kernel, qbn in enumerate(kernel_qbn):
        expected_codes, expected_step = kernel_codes(weight[kernel:kernel + 1], int(qbn))
        torch.testing.assert_close(codes[kernel], expected_codes[0], rtol=0, atol=0)
        torch.testing.assert_close(steps[kernel], expected_step[0], rtol=0, atol=0)
        assert codes[kernel].abs().max() <= signed_levels(int(qbn))
    torch.testing.assert_close(table.dequantized(4), quantize_kernels(weight, 4)[0], rtol=0, atol=0)
    with pytest.raises(ValueError, match="one entry per kernel"):
        table.gather(np.array([2, 3]))
    with pytest.raises(ValueError, match="must be in 2..8"):
        table.gather(np.array([1, 2, 3, 4, 5]))


def test_clipping_search_in_chunks_chooses_the_same_steps(monkeypatch) -> None:
    weight = torch.randn(40, 8, 3, 3, generator=torch.Generator().manual_seed(3)) ** 3
    whole = [kernel_codes(weight, qbn) for qbn in (1, 2, 5, 8)]
    monkeypatch.setattr(quant, "CLIP_SEARCH_CHUNK_ELEMENTS", 3 * 72 + 5)  # chunks of 3 kernels, the last of 1
    for (codes, steps), qbn in zip(whole, (1, 2, 5, 8)):
        chunked_codes, chunked_steps = kernel_codes(weight, qbn)
        assert torch.equal(codes, chunked_codes) and torch.equal(steps, chunked_steps)


def test_binary_kernels_are_plus_or_minus_one_codes() -> None:
    weight = torch.randn(4, 10, generator=torch.Generator().manual_seed(4))
    codes, steps = kernel_codes(weight, 1)
    assert set(codes.unique().tolist()) <= {-1, 1}
    torch.testing.assert_close(steps, weight.abs().mean(1))


def test_activation_quantizer_unsigned_after_relu_and_signed_otherwise() -> None:
    relu_out = torch.relu(torch.randn(10_000, generator=torch.Generator().manual_seed(2)))
    unsigned = ActivationQuantizer.calibrate(relu_out)
    assert not unsigned.signed
    quantized = unsigned(relu_out, 3)
    assert quantized.min() >= 0 and len(quantized.unique()) <= 8
    codes = unsigned.codes(relu_out, 3)
    assert torch.equal(codes.mul(unsigned.step(3)), quantized) and unsigned.code_range(3) == (0, 7)
    assert codes.min() >= 0 and codes.max() <= 7 and torch.equal(codes, codes.round())
    signed = ActivationQuantizer.calibrate(torch.randn(10_000))
    assert signed.signed and len(signed(torch.randn(1000), 4).unique()) <= 15
    assert signed.code_range(4) == (-7, 7) and set(signed.codes(torch.randn(100), 1).unique().tolist()) == {-1, 1}
    with pytest.raises(ValueError, match="positive finite"):
        ActivationQuantizer(float("nan"), signed=False)
