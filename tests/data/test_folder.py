"""A user's folder of images, labels and graph: read into the same dataset object the built-in
data give, every bad input refused with the file and line named, the cache keyed by content."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from icm_utils.data import folder as fd
from icm_utils.data.datasets import load_dataset

RES = 32


@pytest.fixture(scope="module")
def pendulum():
    return load_dataset("pendulum", "random", resolution=RES, n=40, seed=3, cache=False)


@pytest.fixture
def exported(pendulum, tmp_path):
    return fd.export_folder(pendulum, tmp_path / "mine")


def _listing(folder: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in sorted(folder.rglob("*"))}


def test_an_exported_dataset_reads_back_as_the_same_arrays_graph_and_split(pendulum, exported,
                                                                           tmp_path):
    before = _listing(exported)
    ds = fd.load_folder(exported, resolution=RES, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(ds.images, pendulum.images)
    np.testing.assert_array_equal(ds.labels, pendulum.labels)  # float32 exactly (9 digits)
    assert ds.graph == pendulum.graph and ds.names == pendulum.names
    np.testing.assert_array_equal(ds.train_idx, pendulum.train_idx)
    np.testing.assert_array_equal(ds.test_idx, pendulum.test_idx)
    assert ds.manifest["split"] == "the labels' split column" and not ds.has_simulator
    assert ds.scm.units["pendulum_angle"] == "deg"
    with pytest.raises(AttributeError, match="is data, not a simulator"):
        ds.scm.counterfactual(ds.exogenous, {})
    assert _listing(exported) == before  # nothing is written into the user's folder
    again = fd.load_folder(exported, resolution=RES, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.images, ds.images)  # read back from the cache


def test_a_changed_file_is_noticed_never_silently_reused(exported, tmp_path):
    cache = tmp_path / "cache"
    first = fd.load_folder(exported, resolution=RES, cache_dir=cache)
    img = exported / "images" / "000000.png"
    Image.fromarray(np.zeros((RES, RES, 3), np.uint8)).save(img)  # same name, new content
    second = fd.load_folder(exported, resolution=RES, cache_dir=cache)
    assert second.manifest["content"] != first.manifest["content"]
    assert (second.images[0] == 0).all() and not (first.images[0] == 0).all()
    assert len(list(cache.glob("*.npz"))) == 2


def test_other_sizes_jpeg_grey_and_rgba_are_brought_to_the_run_resolution(pendulum, tmp_path):
    out = fd.export_folder(pendulum, tmp_path / "jpg", image_format="jpg", size=50)
    # a wide grey image and a transparent RGBA one among them
    Image.fromarray(np.full((40, 60), 128, np.uint8)).save(out / "images" / "000001.jpg")
    rgba = np.zeros((50, 50, 4), np.uint8)
    rgba[..., 3] = 0  # fully transparent: white after compositing
    Image.fromarray(rgba).save(out / "images" / "000002.png")
    text = (out / "labels.csv").read_text().replace("000002.jpg", "000002.png")
    (out / "labels.csv").write_text(text)
    ds = fd.load_folder(out, resolution=RES, cache=False)
    assert ds.images.shape == (40, RES, RES, 3) and ds.images.dtype == np.uint8
    assert (ds.images[1] == 128).all() and (ds.images[2] == 255).all()
    # a JPEG at another size comes back close to the original picture
    assert np.abs(ds.images[0].astype(int) - pendulum.images[0]).mean() < 12


def test_centre_crop_then_resize():
    img = np.zeros((10, 30, 3), np.uint8)
    img[:, 10:20] = 255  # the central square is white, the sides black
    out = fd.to_rgb_square(Image.fromarray(img), 10)
    assert out.shape == (10, 10, 3) and (out == 255).all()


def test_an_npz_of_images_with_an_index_column(pendulum, tmp_path):
    out = tmp_path / "arrays"
    out.mkdir()
    np.savez(out / "images.npz", images=pendulum.images[:, :, :, 0])  # grey (N, H, W)
    (out / "graph.json").write_text(json.dumps({"variables": ["a", "b"], "edges": [["a", "b"]]}))
    rows = ["index,a,b"] + [f"{i},{i * 0.5},{i}" for i in range(len(pendulum))]
    (out / "labels.csv").write_text("\n".join(rows) + "\n")
    ds = fd.load_folder(out, resolution=RES, cache=False)
    np.testing.assert_array_equal(ds.images[..., 1], pendulum.images[..., 0])
    assert ds.labels[3].tolist() == [1.5, 3.0] and len(ds.test_idx) == 8  # 20% of 40, seeded


def _set_cell(folder: Path, line: int, column: int, value: str) -> None:
    """Set one cell of labels.csv (``line`` as an editor numbers it, the header is line 1)."""
    rows = [r.split(",") for r in (folder / "labels.csv").read_text().splitlines()]
    rows[line - 1][column] = value
    (folder / "labels.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")


def _edit(folder: Path, name: str, old: str, new: str) -> None:
    p = folder / name
    p.write_text(p.read_text().replace(old, new, 1))


@pytest.mark.parametrize("damage, message", [
    (lambda f: os.remove(f / "images" / "000003.png"),
     r"000003\.png is missing \(labels\.csv, line 5\)"),
    (lambda f: (f / "images" / "000003.png").write_bytes(b"not a png"),
     r"000003\.png cannot be read as an image \(labels\.csv, line 5\)"),
    (lambda f: _edit(f, "labels.csv", "000004.png", "000003.png"),
     r"labels\.csv, line 6: image '000003\.png' is listed twice \(also on line 5\)"),
    (lambda f: _set_cell(f, 4, 1, "abc"),
     r"labels\.csv, line 4: pendulum_angle='abc' is not a number"),
    (lambda f: _set_cell(f, 3, 2, "nan"),
     r"labels\.csv, line 3: light_position='nan' is not a finite number"),
    (lambda f: _edit(f, "labels.csv", "shadow_position,split", "shadow_pos,split"),
     r"column\(s\) \['shadow_pos'\] are not variables of the graph"),
    (lambda f: _edit(f, "graph.json", '"name": "shadow_length"', '"name": "shadow_length"}, '
                                                                 '{"name": "extra"'),
     r"the graph's variable\(s\) \['extra'\] have no column"),
    (lambda f: _edit(f, "graph.json", '"edges": [', '"edges": [["shadow_length", '
                                                    '"pendulum_angle"], '),
     r"graph\.json: .*cycle"),
    (lambda f: _edit(f, "graph.json", '"edges": [', '"edges": [["sun", "shadow_length"], '),
     r"graph\.json: edge 'sun' -> 'shadow_length' names unknown variable 'sun'"),
    (lambda f: (f / "labels.csv").write_text("\n".join(
        (f / "labels.csv").read_text().splitlines()[:3]) + "\n"),
     r"2 labelled images are too few to split into train and test"),
    (lambda f: (f / "labels.csv").write_text((f / "labels.csv").read_text().splitlines()[0]),
     r"labels\.csv has a header but no rows"),
    (lambda f: [p.unlink() for p in f.rglob("*") if p.is_file()],
     r"no graph\.json or graph\.toml; the folder needs"),
])
def test_bad_input_names_the_file_and_line_before_any_training(exported, damage, message):
    damage(exported)
    with pytest.raises(fd.FolderError, match=message):
        fd.check_folder(exported)
    with pytest.raises(fd.FolderError, match=message):
        fd.load_folder(exported, resolution=RES, cache=False)


def test_the_graph_may_be_toml_with_units_and_ranges(exported):
    (exported / "graph.json").unlink()
    (exported / "graph.toml").write_text(
        'edges = [["pendulum_angle", "shadow_length"], ["light_position", "shadow_length"],\n'
        '         ["pendulum_angle", "shadow_position"], ["light_position", "shadow_position"]]\n'
        '[[variables]]\nname = "pendulum_angle"\nunit = "deg"\nrange = [-40, 44]\n'
        '[[variables]]\nname = "light_position"\n[[variables]]\nname = "shadow_length"\n'
        '[[variables]]\nname = "shadow_position"\n')
    graph, units, ranges = fd.read_graph(exported)
    assert graph.names[0] == "pendulum_angle" and len(graph.edges) == 4
    assert units["pendulum_angle"] == "deg" and ranges == {"pendulum_angle": (-40.0, 44.0)}
    ds = fd.load_folder(exported, resolution=RES, cache=False)
    assert ds.scm.label_range["pendulum_angle"] == (-40.0, 44.0)


def test_the_command_line_checks_a_folder_and_exports_a_builtin_dataset(tmp_path, capsys,
                                                                        monkeypatch):
    calls = []
    monkeypatch.setattr(fd, "load_dataset", lambda name, resolution: calls.append(
        (name, resolution)) or load_dataset(name, "random", resolution=RES, n=12, cache=False))
    assert fd.main(["export", "flow", str(tmp_path / "f"), "--resolution", "32"]) == 0
    assert calls == [("flow", 32)] and "wrote 12 images of flow" in capsys.readouterr().out
    assert fd.main(["check", str(tmp_path / "f")]) == 0
    assert "12 labelled images" in capsys.readouterr().out
    assert fd.main(["check", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_messages_name_the_line_an_editor_shows_after_blank_lines_and_a_bom(exported):
    rows = (exported / "labels.csv").read_text().splitlines()
    rows.insert(2, "")  # a blank line 3: the rows after it move down one line
    rows[5] = rows[4]  # line 6 repeats line 5's image
    (exported / "labels.csv").write_text("\ufeff" + "\n".join(rows) + "\n")  # Excel's BOM
    with pytest.raises(fd.FolderError, match=r"line 6: image '000002\.png' is listed twice "
                                             r"\(also on line 5\)"):
        fd.check_folder(exported)


def test_sixteen_bit_grey_is_scaled_not_saturated(tmp_path):
    img = Image.fromarray(np.full((8, 8), 32896, np.uint16))  # 16-bit grey at half scale
    assert (fd.to_rgb_square(img, 8) == 128).all()


def test_an_npz_index_beyond_its_images_is_refused_before_training(pendulum, tmp_path):
    out = tmp_path / "arrays"
    out.mkdir()
    np.savez(out / "images.npz", images=pendulum.images[:4])
    (out / "graph.json").write_text(json.dumps({"variables": ["a"], "edges": []}))
    (out / "labels.csv").write_text("index,a\n" + "".join(f"{i},{i}\n" for i in range(12)))
    with pytest.raises(fd.FolderError, match=r"line 6: index 4 is beyond images\.npz's 4"):
        fd.check_folder(out)
