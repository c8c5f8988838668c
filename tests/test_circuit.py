import io

import numpy as np
import pytest
from PIL import Image

from icm_utils.circuit import load_circuit
from icm_utils.graph import CIRCUIT_GRAPH


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
