import numpy as np
import pytest
import torch

from icm_utils import counterfactual as cf
from icm_utils.datasets import load_dataset
from icm_utils.train import images_to_tensor

RES = 32


@pytest.fixture(scope="module")
def ds():
    return load_dataset("pendulum", resolution=RES)


@pytest.fixture(scope="module")
def cfset(ds):
    return cf.make_counterfactual_set(ds, n_units=12, seed=0)


@pytest.fixture(scope="module")
def probe(ds):
    idx = ds.train_idx[:256]
    return cf.train_probe(ds.images[idx], ds.labels[idx], epochs=1, seed=0)


class Oracle(torch.nn.Module):
    """A 'model' that knows the simulator: its counterfactuals are the true ones, and it encodes an
    image as its true labels (k=1). The evaluation must give it a perfect score."""

    def __init__(self, ds, cfset):
        super().__init__()
        self.graph = ds.graph
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.cfset = cfset
        self.table = {im.tobytes(): lab for im, lab in zip(ds.images, ds.labels)}
        for ims, labs in zip(cfset.cf_images, cfset.cf_labels):
            self.table.update({im.tobytes(): lab for im, lab in zip(ims, labs)})

    def counterfactual(self, x, do, units="label"):
        (name, value), = do.items()
        t = self.cfset.targets.index((name, value))
        x_cf = images_to_tensor(self.cfset.cf_images[t]).float() / 255
        return x_cf, torch.zeros(len(x_cf), self.graph.n, 1)

    def encode(self, x):
        ims = (x.permute(0, 2, 3, 1) * 255).round().byte().numpy()
        return torch.as_tensor(np.stack([self.table[im.tobytes()] for im in ims]))[:, :, None]


def test_counterfactual_set_obeys_the_graph(ds, cfset):
    n = ds.graph.n
    assert len(cfset.targets) == 3 * n and cfset.images.shape == (12, RES, RES, 3)
    assert set(np.flatnonzero(np.isin(cfset.exogenous[:, 0], ds.exogenous[ds.test_idx, 0]))) \
        == set(range(12))  # held-out units
    for (name, value), labs in zip(cfset.targets, cfset.cf_labels):
        j = ds.graph.index(name)
        np.testing.assert_allclose(labs[:, j], value, rtol=1e-6)
        for i in set(range(n)) - ds.graph.descendants(j) - {j}:
            np.testing.assert_array_equal(labs[:, i], cfset.labels[:, i])


def test_oracle_scores_perfectly(ds, cfset, probe):
    std = ds.label_stats()[1]
    oracle = Oracle(ds, cfset)
    df = cf.evaluate_counterfactuals(oracle, cfset, probe, std, "oracle")
    assert len(df) == len(cfset.targets) * ds.graph.n
    assert df["image_mse"].max() == 0.0
    # the oracle's factor error is exactly the probe's own error on the true counterfactuals
    floor = np.mean([np.abs(probe.predict(im) - lab) / std for im, lab in
                     zip(cfset.cf_images, cfset.cf_labels)])
    assert df["factor_error"].mean() == pytest.approx(floor, rel=1e-5)
    s = cf.role_summary(df)
    assert set(s.columns) >= {"intervened", "descendant", "non-descendant", "image_mse"}

    move = cf.block_movement(oracle, cfset)
    allowed = cf.allowed_movement(ds.graph)
    assert np.all(move[allowed == 0] == 0) and move[0, 0] > 0
    assert cf.robustness_score(move, allowed) == 1.0


def test_allowed_movement_and_scores_on_known_matrices(ds):
    a = cf.allowed_movement(ds.graph)
    np.testing.assert_array_equal(a, [[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 1, 0], [1, 1, 0, 1]])
    assert cf.robustness_score(np.ones((4, 4)), a) == pytest.approx(8 / 16)


def test_probe_learns_something_and_bad_sizes_refused(ds, probe):
    idx = ds.test_idx[:200]
    err = cf.probe_error(probe, ds.images[idx], ds.labels[idx], ds.label_stats()[1], ds.graph.names)
    assert list(err.index) == ds.graph.names
    assert err["pendulum_angle"] < 0.5  # one epoch already beats predicting the mean (~0.87)
    with pytest.raises(ValueError, match="n_units"):
        cf.make_counterfactual_set(ds, n_units=0)
