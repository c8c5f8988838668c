import numpy as np
import pytest

from icm_utils.data.datasets import load_dataset
from icm_utils.data.images import float_images
from icm_utils.evaluation import probe as probe_mod

RES = 32


@pytest.fixture(scope="module")
def ds():
    return load_dataset("pendulum", resolution=RES)


def test_do_bounds_cut_to_what_the_simulator_accepts(ds):
    rng = [ds.scm.do_range[n] for n in ds.graph.names]
    lo, hi = probe_mod.do_bounds(ds, -np.inf, np.inf)
    assert list(lo) == [r[0] for r in rng] and list(hi) == [r[1] for r in rng]
    inside = ds.labels[ds.train_idx]
    lo2, hi2 = probe_mod.do_bounds(ds, inside.min(0), inside.max(0))
    np.testing.assert_array_equal(lo2, np.maximum(inside.min(0), lo))
    np.testing.assert_array_equal(hi2, np.minimum(inside.max(0), hi))


def test_interventional_probe_data_breaks_the_parent_child_relation(ds):
    from icm_utils.data.pendulum import shadow

    x, u = probe_mod.interventional_images(ds, 200, seed=0)
    assert x.shape == (800, RES, RES, 3) and x.dtype == np.uint8 and u.shape == (800, 4)
    lo, hi = ds.labels[ds.train_idx].min(0), ds.labels[ds.train_idx].max(0)
    assert (u >= lo - 1e-9).all() and (u <= hi + 1e-9).all()
    # in observational data the shadow is the physics' function of angle and light; under
    # do(shadow_length) (the third chunk) it no longer is, on almost every unit
    length, _ = shadow(u[400:600, 0], u[400:600, 1])
    assert np.mean(np.abs(length - u[400:600, 2]) > 0.5) > 0.8
    obs_len, _ = shadow(ds.labels[:200, 0], ds.labels[:200, 1])
    np.testing.assert_allclose(obs_len, ds.labels[:200, 2], atol=1e-4)  # float32 labels
    with pytest.raises(ValueError, match="positive"):
        probe_mod.interventional_images(ds, 0)
    probe = probe_mod.fit_probe(ds, n_observational=64, epochs=1, seed=0)
    assert probe.predict(x[:5]).shape == (5, 4)


def test_cached_probe_is_fitted_once_then_read_back(ds, tmp_path, monkeypatch):
    path = probe_mod.probe_path(tmp_path, "pendulum", RES, 1)
    assert path == tmp_path / f"probe_pendulum_{RES}px_1ep.pt"
    fitted = probe_mod.cached_probe(path, ds, epochs=1)
    assert path.exists()

    def refit(*a, **k):
        raise AssertionError("the cached probe was fitted again")

    monkeypatch.setattr(probe_mod, "fit_probe", refit)
    read = probe_mod.cached_probe(path, ds, epochs=1)
    x = float_images(ds.images[:8])
    np.testing.assert_array_equal(read.predict(x), fitted.predict(x))
