import json

import numpy as np
import pandas as pd
import pytest

from icm_utils import report
from icm_utils.training import health
from icm_utils.training.config import TrainConfig

# the reconstruction of the official profile's icm_vae seed 2 on an AMD EPYC (family 25), epochs
# 1-4, 20-26 and the last: a spike at epoch 3 it recovers from, a jump at epoch 23 it never does
SEED2 = [12.10, 7.37, 11.79, 7.74, 2.66, 2.64, 2.70, 12.99, 11.92, 11.85, 11.82, 11.76]


def test_divergence_is_the_jump_that_stays_not_the_spike_that_recovers():
    assert health.diverged_at(SEED2) == 8  # the 8th entry: epoch 23 of the full history
    assert health.diverged_at(SEED2[:7]) is None  # before the jump: a healthy run
    assert health.diverged_at(SEED2[:7] + [12.99, 2.5]) is None  # a jump it recovers from


@pytest.mark.parametrize("rec, expected", [
    ([3.0, 2.0, 1.0], None),  # a falling curve
    ([1.0, 2.5], 2),  # the last epoch alone can be the jump
    ([1.0, 1.9, 1.9], None),  # under the factor
    ([2.0, 1.0, float("nan"), 5.0], 3),  # a non-finite epoch counts as above
    ([4.0], None),
])
def test_divergence_known_answers(rec, expected):
    assert health.diverged_at(rec) == expected


def test_health_table_reads_a_sweep_folder(tmp_path):
    for model, seed, rec in (("icm_vae", 2, SEED2), ("causal_vae", 0, [5.0, 3.0, 2.0])):
        rd = tmp_path / "models" / "pendulum" / model / f"seed{seed}"
        rd.mkdir(parents=True)
        (rd / "done.json").write_text(json.dumps({"train": {"dataset": "pendulum", "seed": seed}}))
        pd.DataFrame({"rec": rec, "seconds": np.arange(1.0, len(rec) + 1)}).to_csv(
            rd / "history.csv", index=False)
    df = health.health_table(tmp_path).set_index("model")
    assert list(df.columns) == health.HEALTH_COLUMNS[:1] + health.HEALTH_COLUMNS[2:]
    bad, good = df.loc["icm_vae"], df.loc["causal_vae"]
    assert bad["diverged_at"] == 8 and bad["best_epoch"] == 6 and bad["best_rec"] == 2.64
    assert bad["seconds"] == sum(range(1, 13)) and bad["median_epoch_seconds"] == 6.5
    assert pd.isna(good["diverged_at"]) and good["final_rec"] == 2.0 and good["epochs"] == 3
    # a sweep's own runs only; an unfinished one (seed 5) is left out
    mine = health.health_table(tmp_path, [TrainConfig(model="causal_vae", seed=0),
                                          TrainConfig(model="icm_vae", seed=5)])
    assert list(mine["model"]) == ["causal_vae"]
    df.reset_index().to_csv(tmp_path / "training_health.csv", index=False)
    table = report.health_report(tmp_path, "pendulum")
    assert "| `icm_vae` | 2 | 12 | 78 s | 6.5 | 2.64 (6) | 11.76 | **8** |" in table
    assert "| `causal_vae` | 0 | 3 | 6 s | 2.0 | 2.00 (3) | 2.00 | — |" in table


def test_an_empty_folder_is_a_clear_error(tmp_path, capsys):
    assert health.main([str(tmp_path)]) == 2
    assert "no finished runs" in capsys.readouterr().err


def test_the_plot_marks_the_diverged_run(tmp_path):
    cfgs = [TrainConfig(model="icm_vae", seed=s) for s in (0, 2)]
    for c, rec in zip(cfgs, ([5.0, 3.0, 2.0], SEED2), strict=True):
        rd = tmp_path / "models" / "pendulum" / "icm_vae" / f"seed{c.seed}"
        rd.mkdir(parents=True)
        pd.DataFrame({"epoch": range(1, len(rec) + 1), "rec": rec}).to_csv(rd / "history.csv",
                                                                           index=False)
    fig = health.plot_reconstruction(tmp_path, cfgs)
    ax, = fig.axes
    crosses = [ln for ln in ax.lines if ln.get_marker() == "x"]
    assert len(ax.lines) == 3 and len(crosses) == 1
    assert list(crosses[0].get_xdata()) == [8] and list(crosses[0].get_ydata()) == [12.99]
    fig.canvas.draw()  # tick labels are formatted at draw time
    lo, hi = ax.get_ylim()
    shown = [t.get_text() for t in ax.get_yticklabels() if lo <= t.get_position()[1] <= hi]
    assert shown == ["2", "3", "5", "10"]  # plain decimals, not 6x10^0
    assert all(t.get_text() == "" for t in ax.yaxis.get_minorticklabels())
    assert all(float(x).is_integer() for x in ax.get_xticks())  # whole epochs
    assert ax.get_ylabel() == "reconstruction term\n(Bernoulli NLL, nats; log scale)"
