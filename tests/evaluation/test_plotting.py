"""Notebook plot helpers: the tiled grid's known pixels, the channel move, where figures land;
the identifiability figures' layout, titles and labels."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from icm_utils.evaluation.analysis import CLAIM_METRICS, TIDY_COLUMNS  # noqa: E402
from icm_utils.evaluation.codes import RunCodes  # noqa: E402
from icm_utils.evaluation.identifiability_plots import (  # noqa: E402
    metric_title,
    plot_importance,
    plot_metric_bars,
)
from icm_utils.evaluation.plotting import image_grid, plot_history, save_figure, to_hwc  # noqa: E402


def test_image_grid_tiles_images_with_white_padding():
    """Three 2x2 images on 2 rows: 2 columns, a 1-pixel white gap, the empty slot white."""
    images = np.stack([np.full((2, 2, 3), v, np.uint8) for v in (10, 20, 30)])
    ax = image_grid(images, nrow=2, pad=1)
    canvas = ax.get_images()[0].get_array()
    assert canvas.shape == (5, 5, 3)
    assert canvas[0, 0, 0] == 10 and canvas[0, 3, 0] == 20 and canvas[3, 0, 0] == 30
    assert (canvas[2] == 255).all() and (canvas[:, 2] == 255).all() and (canvas[3:, 3:] == 255).all()
    floats = image_grid(np.full((1, 2, 2, 3), 2.0), nrow=1)  # floats clipped to [0, 1] -> 255
    assert floats.get_images()[0].get_array().max() == 255
    plt.close("all")


def test_to_hwc_moves_channels_last_and_clips():
    x = torch.zeros(1, 3, 2, 4)
    x[0, 2, 1, 3] = 1.5
    out = to_hwc(x)
    assert isinstance(out, np.ndarray) and out.shape == (1, 2, 4, 3)
    assert out[0, 1, 3, 2] == 1.0 and out.sum() == 1.0


def test_save_figure_writes_a_png_into_the_given_folder(tmp_path):
    fig, _ = plt.subplots()
    out = save_figure(fig, "demo", directory=tmp_path / "figs")
    assert out == tmp_path / "figs" / "demo.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close(fig)


def test_plot_history_draws_the_nonzero_terms_and_the_warmup():
    history = [{"epoch": e, "loss": 3.0 - e, "rec": 2.0, "kl_eps": 0.0, "alpha": 0.1 * e,
                "beta": 0.2 * e} for e in range(1, 4)]
    ax = plot_history(history)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["loss", "rec"]  # kl_eps is all zero: left out
    assert len(ax.figure.axes) == 2  # the twin axis with alpha and beta
    plt.close("all")


def test_metric_bars_lay_seven_metrics_out_four_a_row_with_one_dataset_legend():
    rows = [(ds, m, str(seed), metric, 0.5 + 0.1 * seed) for ds in ("pendulum", "flow")
            for m in ("icm_vae", "control:null_linear") for seed in (0, 1) for metric in CLAIM_METRICS]
    fig = plot_metric_bars(pd.DataFrame(rows, columns=TIDY_COLUMNS))
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 8  # seven panels and the legend's spare slot
    assert {round(ax.get_position().y0, 2) for ax in shown[:4]} != {
        round(ax.get_position().y0, 2) for ax in shown[4:]}  # two rows
    assert shown[0].get_title() == "own-factor R²\n(block predicted by its factor)"
    assert shown[0].get_ylabel() == "score, 0 to 1\n(higher is better)"
    assert shown[1].get_ylabel() == ""  # one y label per row
    legend = shown[7].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["pendulum", "flow"]
    assert all(ax.get_legend() is None for ax in shown[:7])  # no legend over the bars
    plt.close("all")


def test_metric_titles_are_readable_and_mark_the_dim_level():
    assert metric_title("irs") == "IRS\n(robustness to other factors)"
    assert metric_title("irs_dim") == "IRS, dim level\n(robustness to other factors)"
    assert metric_title("unknown_score") == "unknown_score"


def test_importance_heatmaps_say_what_they_show_and_blank_a_code_that_predicts_nothing():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(200, 3))
    names = ["f0", "f1", "f2"]
    good = np.stack([np.c_[f[:, i], f[:, i] ** 3] for i in range(3)], axis=1)  # (200, 3, 2)
    runs = [RunCodes("toy", "identified", 0, good, f, names),
            RunCodes("toy", "collapsed", 0, np.zeros((200, 3, 2)), f, names)]
    fig = plot_importance(runs)
    ok, dead = fig.axes
    assert ok.get_title() == "toy · identified · seed 0"
    assert dead.get_title() == "toy · collapsed · seed 0\nno factor predicted (constant code)"
    assert len(ok.texts) == 9 and len(dead.texts) == 0  # no grid of 0.00 for the dead code
    diag = [float(t.get_text()) for t in ok.texts][::4]
    assert diag == [1.0, 1.0, 1.0]  # each factor's importance sits on its own block
    assert fig._suptitle.get_text() == (
        "DCI importance of each latent block (rows) for predicting each factor (columns):\n"
        "gradient-boosted-tree importances, each column normalised to sum to 1")
    plt.close("all")
