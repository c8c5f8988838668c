import json
import warnings

import numpy as np
import pytest
import torch

import icm_utils.data.datasets as ds
from icm_utils.data.datasets import cache_paths, get_scm, load_dataset
from icm_utils.data.graph import FLOW_GRAPH, PENDULUM_GRAPH
from icm_utils.data.pendulum import PendulumSCM
from icm_utils.data.waterflow import WaterFlowSCM


def only_cache_files(d):
    return sorted(p.name for p in d.iterdir() if not p.name.startswith("."))


def test_get_scm():
    assert isinstance(get_scm("pendulum"), PendulumSCM)
    scm = get_scm("flow", noise_std=0.3)
    assert isinstance(scm, WaterFlowSCM) and scm.noise_std == 0.3
    with pytest.raises(ValueError, match="unknown dataset 'pendulumm'; known"):
        get_scm("pendulumm")


def test_random_dataset_fields_tensors_and_stats(tmp_path):
    d = load_dataset("pendulum", "random", resolution=16, n=50, seed=1, data_dir=tmp_path)
    assert d.images.shape == (50, 16, 16, 3) and d.labels.shape == (50, 4)
    assert d.graph == PENDULUM_GRAPH and d.names == PENDULUM_GRAPH.names
    assert (len(d.train_idx), len(d.test_idx)) == (40, 10)
    x, u = d.tensors("train")
    assert x.shape == (40, 3, 16, 16) and x.dtype == torch.float32 and u.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() == 1.0
    np.testing.assert_allclose(x[0].permute(1, 2, 0).numpy() * 255, d.images[d.train_idx[0]],
                               atol=1e-3)
    np.testing.assert_array_equal(u.numpy(), d.labels[d.train_idx])
    assert d.tensors("test")[0].shape[0] == 10 and d.tensors("all")[0].shape[0] == 50
    mean, std = d.label_stats()
    np.testing.assert_allclose(mean, d.labels[:40].mean(0), rtol=1e-5)
    np.testing.assert_allclose(std, d.labels[:40].std(0), rtol=1e-4)
    assert d.manifest["params"]["n"] == 50 and d.manifest["n_test"] == 10
    with pytest.raises(ValueError, match="split must be 'train', 'test' or 'all'"):
        d.tensors("val")


def test_grid_dataset_split(tmp_path):
    d = load_dataset("flow", "grid", resolution=8, data_dir=tmp_path)
    assert len(d) == 8100 and (len(d.train_idx), len(d.test_idx)) == (6480, 1620)
    assert d.graph == FLOW_GRAPH and d.manifest["split"] == "peers' grid split"


def test_cache_is_reused_and_identical(tmp_path):
    a = load_dataset("flow", "random", resolution=12, n=20, seed=3, data_dir=tmp_path)
    assert len(only_cache_files(tmp_path)) == 2  # .npz + .json, no temporary left over
    npz, _ = cache_paths(a.manifest["params"], tmp_path)
    stamp = npz.stat().st_mtime_ns
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a valid cache loads without any warning
        b = load_dataset("flow", "random", resolution=12, n=20, seed=3, data_dir=tmp_path)
    assert npz.stat().st_mtime_ns == stamp  # not rewritten
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.exogenous, b.exogenous)
    c = load_dataset("flow", "random", resolution=12, n=20, seed=3, cache=False)
    np.testing.assert_array_equal(a.images, c.images)


def test_changed_parameters_give_a_new_verified_cache(tmp_path):
    a = load_dataset("pendulum", "random", resolution=12, n=20, seed=0, data_dir=tmp_path)
    b = load_dataset("pendulum", "random", resolution=12, n=20, seed=0, noise_std=0.5,
                     data_dir=tmp_path)
    assert len(only_cache_files(tmp_path)) == 4
    assert b.manifest["params"]["noise_std"] == 0.5
    np.testing.assert_array_equal(a.labels[:, :2], b.labels[:, :2])  # same roots
    assert not np.allclose(a.labels[:, 3], b.labels[:, 3])  # noisy shadow position
    # a manifest whose parameters do not match (e.g. another generator version) is not used
    npz, meta = cache_paths(a.manifest["params"], tmp_path)
    m = json.loads(meta.read_text())
    m["params"]["generator_version"] = "0.0"
    meta.write_text(json.dumps(m))
    with pytest.warns(RuntimeWarning, match="parameters differ"):
        c = load_dataset("pendulum", "random", resolution=12, n=20, seed=0, data_dir=tmp_path)
    np.testing.assert_array_equal(c.images, a.images)
    assert json.loads(meta.read_text())["params"]["generator_version"] == ds.GENERATOR_VERSION


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest"])
def test_corrupted_cache_is_regenerated(tmp_path, damage):
    kw = dict(name="pendulum", mode="random", resolution=12, n=30, seed=2, data_dir=tmp_path)
    a = load_dataset(**kw)
    npz, meta = cache_paths(a.manifest["params"], tmp_path)
    if damage == "truncate":
        npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
        why = "unreadable data file"
    elif damage == "flip":  # valid file, other content: only the hash can tell
        with np.load(npz) as z:
            arrays = {k: z[k].copy() for k in z.files}
        arrays["images"][0, 0, 0, 0] ^= 1
        np.savez_compressed(npz, **arrays)
        why = "content hash mismatch"
    else:
        meta.write_text("{not json")
        why = "unreadable manifest"
    with pytest.warns(RuntimeWarning, match=why):
        b = load_dataset(**kw)
    np.testing.assert_array_equal(a.images, b.images)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired: the next load is clean
        load_dataset(**kw)


def test_bad_arguments_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        load_dataset("mnist", data_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown mode 'sweep'"):
        load_dataset("pendulum", "sweep", data_dir=tmp_path)
    with pytest.raises(ValueError, match="mode='random' needs the number of samples n"):
        load_dataset("pendulum", "random", data_dir=tmp_path)
    with pytest.raises(ValueError, match="n must be a non-negative integer, got -5"):
        load_dataset("pendulum", "random", n=-5, data_dir=tmp_path)
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        load_dataset("pendulum", "random", n=0, data_dir=tmp_path)
    with pytest.raises(ValueError, match="n applies only to mode='random'"):
        load_dataset("pendulum", "grid", n=10, data_dir=tmp_path)
    for bad in (0, 32.0, "64"):
        with pytest.raises(ValueError, match="resolution must be a positive integer"):
            load_dataset("flow", "random", n=4, resolution=bad, data_dir=tmp_path)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        load_dataset("flow", "random", n=4, seed=-1, data_dir=tmp_path)
    with pytest.raises(ValueError, match=r"test_fraction must be in \[0, 1\)"):
        load_dataset("flow", "random", n=4, test_fraction=1.0, data_dir=tmp_path)
    with pytest.raises(ValueError, match="noise_std must be a finite number >= 0"):
        load_dataset("flow", "random", n=4, noise_std=-1, data_dir=tmp_path)
    assert only_cache_files(tmp_path) == []  # nothing written for refused calls


@pytest.mark.parametrize("name", ["pendulum", "flow"])
def test_label_ranges_are_accepted_interventions(name):
    """Other modules draw do() values from label_range: it must lie inside do_range."""
    scm = get_scm(name)
    for var in scm.names:
        (lo, hi), (dlo, dhi) = scm.label_range[var], scm.do_range[var]
        assert dlo <= lo < hi <= dhi, var
        scm.check_do({var: np.array([lo, hi])}, 2)


@pytest.mark.parametrize("name", ["pendulum", "flow"])
def test_each_variable_changes_pixels_only_inside_the_objects_it_draws(name):
    """The objects a renderer declares (what an object decoder gives a slot each) are what each
    variable draws: changing one label changes no pixel outside its objects, before or after."""
    scm = get_scm(name)
    s = scm.sample(64, seed=1, resolution=64)
    drawn = {v for obj in scm.objects.values() for v in obj}
    assert drawn == set(scm.names)  # every variable draws something
    rng = np.random.default_rng(0)
    for j, var in enumerate(scm.names):
        changed = s.labels.astype(np.float64)
        changed[:, j] = rng.uniform(*scm.label_range[var], size=len(changed))
        moved = np.any(scm.render(changed, s.exogenous, 64) != s.images, axis=-1)
        inside = np.zeros_like(moved)
        for labels in (s.labels, changed):
            masks = scm.object_masks(labels, s.exogenous, 64)
            for obj, variables in scm.objects.items():
                if var in variables:
                    inside |= masks[obj]
        assert moved.any() and not (moved & ~inside).any(), var
        # and a variable's objects are not all of the picture
        assert inside.mean() < 0.5
