import os

import pytest
import torch

from icm_utils.training import checkpoint as ck


class Tiny(torch.nn.Module):
    def __init__(self, d=3, graph="g1"):
        super().__init__()
        self.lin = torch.nn.Linear(d, 2)
        self.config = {"name": "tiny", "graph": graph, "k": d}


class Evil:  # an arbitrary class: loading it would need unpickling code
    pass


def test_roundtrip_restores_weights_optimizer_and_config(tmp_path):
    m = Tiny()
    opt = torch.optim.Adam(m.parameters(), lr=0.1)
    m.lin(torch.ones(1, 3)).sum().backward()
    opt.step()
    p = ck.save_checkpoint(tmp_path / "c.pt", m, config={"model_config": m.config}, optimizer=opt,
                           epoch=7, history=[{"epoch": 1, "loss": 2.5}])
    m2 = Tiny()
    opt2 = torch.optim.Adam(m2.parameters(), lr=0.1)
    ckpt = ck.load_into(m2, p, opt2)
    assert ckpt["epoch"] == 7 and ckpt["history"] == [{"epoch": 1, "loss": 2.5}]
    assert torch.equal(m.lin.weight, m2.lin.weight)
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]


def test_crash_mid_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    m = Tiny()
    p = ck.save_checkpoint(tmp_path / "c.pt", m, config={}, epoch=1)
    before = p.read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt  # an interruption exactly at the rename

    monkeypatch.setattr(os, "replace", boom)
    with torch.no_grad():
        m.lin.weight.add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        ck.save_checkpoint(p, m, config={}, epoch=2)
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["c.pt"]


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    p = ck.save_checkpoint(tmp_path / "c.pt", Tiny(), config={}, epoch=1)
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    with pytest.raises(ck.CheckpointError, match="unreadable"):
        ck.read_checkpoint(p)
    with pytest.raises(ck.CheckpointError, match="no checkpoint"):
        ck.read_checkpoint(tmp_path / "missing.pt")


def test_loading_never_unpickles_arbitrary_objects(tmp_path):
    p = tmp_path / "evil.pt"
    torch.save({"model": {}, "config": Evil(), "epoch": 0}, p)
    with pytest.raises(ck.CheckpointError, match="unreadable"):
        ck.read_checkpoint(p)


def test_mismatched_graph_or_shape_is_a_clear_error(tmp_path):
    p = ck.save_checkpoint(tmp_path / "c.pt", Tiny(graph="g1"),
                           config={"model_config": Tiny(graph="g1").config}, epoch=1)
    with pytest.raises(ck.CheckpointError, match="graph='g1'"):
        ck.load_into(Tiny(graph="g2"), p)
    other = Tiny(d=5)
    other.config = dict(other.config, k=3)  # same config, different tensor shapes
    with pytest.raises(ck.CheckpointError, match="shape"):
        ck.load_into(other, p)
