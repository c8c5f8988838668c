from types import SimpleNamespace

import numpy as np
import pytest
import torch

from icm_utils.core import utils
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


def test_auto_device_picks_cuda_only_when_present_and_respects_an_explicit_choice(monkeypatch):
    """TrainConfig.device="auto" (the default) trains on the GPU when torch sees one, else the
    CPU; an explicit device is used as given (README: what a GPU user gets)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert auto_device("auto") == torch.device("cpu") == auto_device(None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert auto_device("auto") == torch.device("cuda")
    assert auto_device("cpu") == torch.device("cpu")  # explicit beats a present GPU
    assert auto_device("cuda:1") == torch.device("cuda", 1)


def test_cpu_model_names_family_and_model(monkeypatch):
    import io

    from icm_utils.core import utils

    text = "processor\t: 0\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\nprocessor\t: 1\n"
    monkeypatch.setattr(utils, "open", lambda path: io.StringIO(text), raising=False)
    assert utils.cpu_model() == "AMD EPYC (family 25, model 17)"
    monkeypatch.setattr(utils, "open", lambda path: io.StringIO("model name\t: Xeon\n"), raising=False)
    assert utils.cpu_model() == "Xeon"


def test_median_ms_is_the_median_of_the_timed_calls_after_the_warmup(monkeypatch):
    clock = iter([0.0, 0.001, 1.0, 1.003, 2.0, 2.100])  # timed calls of 1, 3 and 100 ms
    monkeypatch.setattr(utils.time, "perf_counter", lambda: next(clock))
    calls = []
    assert utils.median_ms(lambda: calls.append(1), repeats=3, warmup=2) == pytest.approx(3.0)
    assert len(calls) == 5  # two untimed warm-up calls, then three timed ones
