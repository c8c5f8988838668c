import io

import numpy as np
import pytest
from circuit_fixture import write_shards
from PIL import Image

from icm_utils.data.circuit import LATENT_ORDER, check_folder, intervention_targets, load_circuit
from icm_utils.data.circuit_data import load_circuit_dataset, load_pairs, official_regimes
from icm_utils.data.graph import CIRCUIT_GRAPH


def fake_latents(n: int, rng) -> np.ndarray:
    return rng.uniform(0, 1, (n, 2, 4)).astype(np.float32)  # stored (red, green, blue, arm)


def png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def shards(tmp_path):
    """Two shards in the published layout: PNG bytes (N, 2), latents (N, 2, 4)."""
    rng = np.random.default_rng(0)
    raw = {}
    for k, n in (("train-0", 3), ("train-1", 2)):
        imgs = rng.integers(0, 256, (n, 2, 32, 32, 3), dtype=np.uint8)
        imgs[:, 0, :16] = 10  # top half of the pre-intervention view is dark
        enc = np.array([[png_bytes(a), png_bytes(b)] for a, b in imgs])  # dtype S
        lat = fake_latents(n, rng)
        np.savez(tmp_path / f"{k}.npz", imgs=enc, original_latents=lat, extra=np.zeros(1))
        raw[k] = (imgs, lat)
    return tmp_path, raw


def test_loads_png_shards_in_graph_order(shards):
    folder, raw = shards
    data = load_circuit(folder, resolution=None)
    assert data.graph == CIRCUIT_GRAPH and len(data) == 5
    assert data.images.shape == (5, 32, 32, 3) and data.images.dtype == np.uint8
    imgs0, lat0 = raw["train-0"]
    np.testing.assert_array_equal(data.images[:3], imgs0[:, 0])  # lossless PNG, view 0
    # arm is stored last; the graph puts it first: (arm, red, green, blue)
    np.testing.assert_array_equal(data.labels[0], lat0[0, 0, [3, 0, 1, 2]])
    assert data.labels.dtype == np.float32
    assert [p.name for p in data.files] == ["train-0.npz", "train-1.npz"]


def test_resize_view_and_max_samples(shards):
    folder, raw = shards
    small = load_circuit(folder, resolution=8)
    assert small.images.shape == (5, 8, 8, 3)
    assert small.images[0, :4].max() == 10  # the dark half survives area averaging
    post = load_circuit(folder, resolution=None, view=1, max_samples=4)
    assert len(post) == 4
    np.testing.assert_array_equal(post.images[3], raw["train-1"][0][0, 1])
    np.testing.assert_array_equal(post.labels[3], raw["train-1"][1][0, 1, [3, 0, 1, 2]])


def test_decoded_uint8_layouts(tmp_path):
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (4, 16, 16, 4), dtype=np.uint8)  # RGBA, no pair axis
    np.savez(tmp_path / "a.npz", imgs=imgs, original_latents=fake_latents(4, rng))
    data = load_circuit(tmp_path, resolution=None)
    np.testing.assert_array_equal(data.images, imgs[..., :3])


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_circuit(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no .npz shards"):
        load_circuit(tmp_path)
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 4, 4, 3), np.uint8),
             original_latents=fake_latents(2, rng))
    with pytest.raises(ValueError, match=r"lacks keys \['imgs'\]"):
        load_circuit(tmp_path)
    np.savez(tmp_path / "bad.npz", imgs=np.zeros((2, 4, 4, 3), np.uint8),
             original_latents=np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"original_latents must have shape \(N, 2, 4\)"):
        load_circuit(tmp_path)
    np.savez(tmp_path / "bad.npz", imgs=np.zeros((3, 4, 4, 3), np.uint8),
             original_latents=fake_latents(2, rng))
    with pytest.raises(ValueError, match="3 images but 2 latents"):
        load_circuit(tmp_path)
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="cannot read"):
        load_circuit(tmp_path)
    obj = np.empty(2, dtype=object)
    obj[:] = [b"x", b"y"]
    np.savez(tmp_path / "bad.npz", imgs=obj, original_latents=fake_latents(2, rng))
    with pytest.raises(ValueError, match="allow_pickle=True only for trusted files"):
        load_circuit(tmp_path)
    with pytest.raises(ValueError, match="view must be 0"):
        load_circuit(tmp_path, view=2)
    with pytest.raises(ValueError, match="resolution must be a positive integer"):
        load_circuit(tmp_path, resolution=-4)


# ---------------------------------------------------------------- layout, targets, regimes
@pytest.fixture
def fixture_shards(tmp_path):
    folder = tmp_path / "shards"
    return folder, write_shards(folder, n_train=(30, 30), n_test=30, resolution=32)


def test_check_folder_lists_splits_and_names_folder_and_files_on_error(tmp_path, fixture_shards):
    folder, _ = fixture_shards
    splits = check_folder(folder)
    assert [p.name for p in splits["train"]] == ["train-0.npz", "train-1.npz"]
    assert [p.name for p in splits["test"]] == ["test.npz"]  # val.npz is not read
    with pytest.raises(FileNotFoundError, match=r"nowhere does not exist.*train\*\.npz"):
        check_folder(tmp_path / "nowhere")
    (folder / "test.npz").rename(folder / "other.npz")
    with pytest.raises(FileNotFoundError, match=r"shards has no test\.npz.*expected in it"):
        check_folder(folder)
    np.savez(folder / "test.npz", imgs=np.zeros((3, 2), "S4"), original_latents=np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"shards: test\.npz: original_latents must have shape "
                                         r"\(N, 2, 4\).*expected in it"):
        check_folder(folder)
    np.savez(folder / "test.npz", images=np.zeros((3, 2), "S4"),
             original_latents=np.zeros((3, 2, 4)))
    with pytest.raises(ValueError, match=r"lacks keys \['imgs'\]"):
        check_folder(folder)
    (folder / "test.npz").write_bytes(b"truncated")
    with pytest.raises(ValueError, match="cannot read"):
        check_folder(folder)


def test_intervention_targets_known_answers():
    # graph order (arm, red, green, blue); arm -> all lights, green -> red, blue -> red
    pre = np.array([0.5, 0.5, 0.5, 0.5])
    cases = {  # changed variables -> target
        (0,): 0, (0, 1, 2): 0,  # the arm, with or without its descendants
        (2,): 2, (2, 1): 2, (3, 1): 3,  # a light, possibly moving the collider red
        (1,): 1,  # red alone
        (): -1,  # empty intervention
        (2, 3): -1,  # two lights at once: not one variable and its descendants
        (1, 0): 0, (3, 0, 1, 2): 0,
    }
    lat = np.zeros((len(cases), 2, 4))
    for r, changed in enumerate(cases):
        lat[r, 0] = pre
        lat[r, 1] = pre
        lat[r, 1, list(changed)] += 0.25
    np.testing.assert_array_equal(intervention_targets(lat), list(cases.values()))
    lat[0, 1, 0] = pre[0] + 1e-9  # below tolerance: nothing changed
    assert intervention_targets(lat)[0] == -1


def test_fixture_targets_are_recovered_from_the_latents(fixture_shards):
    _, out = fixture_shards
    for shard in out.values():
        lat = shard["latents"][:, :, LATENT_ORDER]
        np.testing.assert_array_equal(intervention_targets(lat), shard["targets"])


def test_official_regimes_known_answers():
    #        arm   red   green blue
    s = np.array([[0.2, 0.6, 0.5, 0.1],    # regime 1
                  [0.5, 0.6, 0.1, 0.1],    # regime 2
                  [0.8, 0.6, 0.1, 0.5],    # regime 3
                  [0.2, 0.5, 0.5, 0.1],    # red on the bound: dropped (strict)
                  [0.4, 0.6, 0.5, 0.1],    # arm on the bound between regimes 1 and 2
                  [0.2, 0.6, 0.5, 0.3],    # blue too bright for regime 1
                  [0.8, 0.6, 0.3, 0.5],    # green too bright for regime 3
                  [1.0, 0.9, 0.0, 0.9]])   # arm at 1: outside (0.7, 1.0)
    np.testing.assert_array_equal(official_regimes(s), [1, 1, 1, 0, 0, 0, 0, 0])


def test_dataset_splits_by_file_modes_and_cache(tmp_path, fixture_shards):
    folder, out = fixture_shards
    ds = load_circuit_dataset(folder, resolution=32, cache_dir=tmp_path / "cache")
    assert (len(ds.train_idx), len(ds.test_idx)) == (60, 30)
    pre = lambda name: out[name]["latents"][:, 0][:, LATENT_ORDER]  # noqa: E731
    np.testing.assert_allclose(ds.labels[ds.test_idx], pre("test"), rtol=1e-6)
    np.testing.assert_allclose(ds.labels[:30], pre("train-0"), rtol=1e-6)
    assert ds.names == ["arm", "red", "green", "blue"] and ds.images.dtype == np.uint8
    again = load_circuit_dataset(folder, resolution=32, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.images, ds.images)
    assert len(list((tmp_path / "cache").glob("circuit_grid_32px_*.npz"))) == 1
    off = load_circuit_dataset(folder, resolution=32, mode="official", cache=False)
    states = np.concatenate([out["test"]["latents"][:, v][:, LATENT_ORDER] for v in (0, 1)])
    assert len(off.test_idx) == official_regimes(states).sum() > 0
    assert official_regimes(off.labels).all()
    with pytest.raises(AttributeError, match="not a simulator.*pairs"):
        ds.scm.counterfactual({}, {})
    with pytest.raises(ValueError, match="data_mode must be one of"):
        load_circuit_dataset(folder, resolution=32, mode="random", cache=False)


def test_pairs_hold_known_targets_and_their_post_states(fixture_shards):
    folder, out = fixture_shards
    ds = load_circuit_dataset(folder, resolution=32, cache=False)
    pairs = load_pairs(ds, "test")
    truth = out["test"]["targets"]
    assert len(pairs) == (truth >= 0).sum()
    np.testing.assert_array_equal(pairs.targets, truth[truth >= 0])
    np.testing.assert_allclose(pairs.post_labels,
                               out["test"]["latents"][truth >= 0, 1][:, LATENT_ORDER], rtol=1e-6)
    few = load_pairs(ds, "test", n_per_variable=2, seed=1)
    assert np.bincount(few.targets, minlength=4).max() <= 2 and len(few) >= 4
