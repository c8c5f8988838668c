"""Notebook plot helpers: the tiled grid's known pixels, the channel move, where figures land."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

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
