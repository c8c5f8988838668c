from types import SimpleNamespace

import numpy as np
import pytest
import torch

from icm_utils.core.utils import auto_device, field_errors, seed_everything


def test_field_errors_names_each_broken_rule():
    cfg = SimpleNamespace(a=0, b=True, c=-1, d=0.0, e=float("inf"), f=3, g=np.int64(2))
    errs = field_errors(cfg, positive_ints=("a", "b", "f", "g"), nonneg_ints=("c",),
                        positive=("d",), nonneg_finite=("e",))
    assert errs == ["a must be a positive integer, got 0",
                    "b must be a positive integer, got True",
                    "c must be a non-negative integer, got -1",
                    "d must be > 0, got 0.0",
                    "e must be a finite number >= 0, got inf"]


def test_seed_everything_makes_torch_and_numpy_repeat():
    seed_everything(7)
    a = (torch.rand(3), np.random.rand(3))
    rng = seed_everything(7)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert isinstance(rng, np.random.Generator)
    with pytest.raises(ValueError, match="non-negative integer"):
        seed_everything(-1)


def test_auto_device():
    assert auto_device("cpu").type == "cpu"
    assert auto_device(None).type in ("cpu", "cuda")
