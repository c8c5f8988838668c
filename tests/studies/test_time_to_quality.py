"""Time to quality: each schedule length is its own run folder, every (epochs, seed) gets one row
with its measured time and scores, and the figure has both panels (~15 s)."""
from icm_utils.studies import time_to_quality as ttq


def test_each_schedule_is_its_own_training_and_is_scored(tmp_path):
    a, b = ttq.configs(1, (0,), n_train=64), ttq.configs(2, (0,), n_train=64)
    assert ttq.root_of(tmp_path, a[0]) != ttq.root_of(tmp_path, b[0])  # no warm-up sharing
    table = ttq.measure(tmp_path, epochs=(1, 2), seeds=(0,), n_train=64, resolution=32,
                        n_units=8, probe_epochs=1)
    assert list(table["epochs"]) == [1, 2] and (table["n_train"] == 64).all()
    assert (table["train_seconds"] > 0).all()
    assert table[["block_dci", "own_factor_r2"]].le(1).all().all()
    assert table.filter(like="root_").gt(0).all().all()
    fig = ttq.plot(table)
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "counterfactual error (label std)"
