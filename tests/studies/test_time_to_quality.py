"""Time to quality: each schedule length is its own run folder, every (epochs, seed) gets one row
with its measured time and scores, and the figure has both panels (~15 s)."""
import pytest

from icm_utils.evaluation import counterfactual as cf
from icm_utils.evaluation.probe import cached_probe, probe_path
from icm_utils.studies import time_to_quality as ttq
from icm_utils.training.runs import load_run, load_training_data


def test_each_schedule_is_its_own_training_and_is_scored(tmp_path):
    a, b = ttq.configs(1, (0,), n_train=64), ttq.configs(2, (0,), n_train=64)
    assert ttq.root_of(tmp_path, a[0]) != ttq.root_of(tmp_path, b[0])  # no warm-up sharing
    table = ttq.measure(tmp_path, epochs=(1, 2), seeds=(0,), n_train=64, resolution=32,
                        n_units=8, probe_epochs=1)
    assert list(table["epochs"]) == [1, 2] and (table["n_train"] == 64).all()
    assert (table["train_seconds"] > 0).all()
    # a row's root errors are the scoring chain's, recomputed here from the run and the probe
    cfg = ttq.configs(1, (0,), n_train=64, resolution=32)[0]
    ds = load_training_data(cfg)[0]
    probe = cached_probe(probe_path(tmp_path, "pendulum", 32, 1), ds, 1)
    cfset = cf.make_counterfactual_set(ds, n_units=8, seed=0)
    rows = cf.evaluate_counterfactuals(load_run(ttq.root_of(tmp_path, cfg), cfg)[0], cfset,
                                       probe, ds.label_stats()[1])
    root = cf.role_summary(rows, by_target=True).query("intervened_on == 'root'").iloc[0]
    first = table[table["epochs"] == 1].iloc[0]
    assert first["root_intervened"] == pytest.approx(root["intervened"])
    assert first["root_descendants"] == pytest.approx(root["descendant"])
    fig = ttq.plot(table)
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "counterfactual error (label std)"
