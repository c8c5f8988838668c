import numpy as np
import pytest

from icm_utils.data.render import COLORS, Canvas, Circle, Polyline, Rect, Segment, rasterize


def px(canvas: Canvas, x: float, y: float) -> tuple[int, int]:
    """(row, col) of the pixel containing scene point (x, y)."""
    col = int((x - canvas.xlim[0]) / canvas.dx)
    row = int((canvas.ylim[1] - y) / canvas.dy)
    return row, col


def test_empty_scene_is_white_uint8():
    img = rasterize([], 3, Canvas(16))
    assert img.shape == (3, 16, 16, 3) and img.dtype == np.uint8
    assert (img == 255).all()


def test_circle_centre_colour_and_area():
    c = Canvas(64, (0, 20), (0, 20))
    img = rasterize([Circle(10, 10, 5, "firebrick")], 1, c)[0]
    assert tuple(img[32, 32]) == COLORS["firebrick"]
    assert (img[0, 0] == 255).all()
    # anti-aliased coverage integrates to the disc's area (pi r^2 in pixels)
    cov = (255 - img[..., 1].astype(float)) / (255 - COLORS["firebrick"][1])
    area_px = np.pi * (5 / c.dx) ** 2
    assert cov.sum() == pytest.approx(area_px, rel=0.01)
    # edge pixels are partially covered: smooth, not binary
    assert ((cov > 0.05) & (cov < 0.95)).sum() > 20


def test_y_axis_points_up_and_pixel_mapping():
    c = Canvas(20, (0, 20), (0, 20))
    img = rasterize([Rect(0, 0, 20, 5, "black")], 1, c)[0]  # bottom quarter
    assert (img[-1] == 0).all() and (img[0] == 255).all()
    assert (img[:, :, 0].mean(1) < 128).sum() == 5  # exactly 5 rows of 1 unit


def test_rect_coverage_is_exact_on_pixel_boundaries():
    c = Canvas(10, (0, 10), (0, 10))
    img = rasterize([Rect(2, 3, 6, 8, "black")], 1, c)[0, ..., 0]
    assert (img == 0).sum() == 4 * 5
    assert set(np.unique(img)) <= {0, 255}  # edges fall exactly between pixel centres


def test_segment_butt_length_and_round_caps():
    c = Canvas(100, (0, 100), (0, 100))
    butt = rasterize([Segment(20, 50, 80, 50, 4, cap="butt")], 1, c)[0, ..., 0]
    rnd = rasterize([Segment(20, 50, 80, 50, 4, cap="round")], 1, c)[0, ..., 0]
    assert (butt < 128).sum() == 60 * 4
    assert (rnd < 128).sum() > (butt < 128).sum()  # caps extend by width/2 each side
    assert butt[50, 19] == 255 and butt[50, 20] == 0 and butt[50, 79] == 0 and butt[50, 80] == 255


def test_zero_length_segment_is_a_dot_not_nan():
    img = rasterize([Segment(10.5, 10.5, 10.5, 10.5, 2)], 1, Canvas(20, (0, 20), (0, 20)))[0]
    assert img.min() == 0 and (img < 128).sum() < 20


def test_painter_order_later_on_top():
    c = Canvas(32, (0, 10), (0, 10))
    a = rasterize([Circle(5, 5, 3, "orange"), Circle(5, 5, 1, "black")], 1, c)[0]
    b = rasterize([Circle(5, 5, 1, "black"), Circle(5, 5, 3, "orange")], 1, c)[0]
    r, q = px(c, 5, 5)
    assert tuple(a[r, q]) == (0, 0, 0) and tuple(b[r, q]) == COLORS["orange"]


def test_batch_parameters_and_chunking_agree():
    c = Canvas(24, (0, 10), (0, 10))
    cx = np.linspace(2, 8, 7)
    shapes = [Circle(cx, 5, 1.5, "firebrick"), Segment(0, 1, cx, 9, 0.5)]
    whole = rasterize(shapes, 7, c)
    chunked = rasterize(shapes, 7, c, chunk=2)
    np.testing.assert_array_equal(whole, chunked)
    singles = [rasterize([Circle(v, 5, 1.5, "firebrick"), Segment(0, 1, v, 9, 0.5)], 1, c)[0]
               for v in cx]
    np.testing.assert_array_equal(whole, np.stack(singles))


def test_polyline_and_per_scene_colours():
    c = Canvas(32, (0, 10), (0, 10))
    xs = np.array([[1, 5, 9], [1, 5, 9]])
    ys = np.array([[1, 9, 1], [5, 5, 5]])
    cols = np.array([[255, 0, 0], [0, 0, 255]])
    img = rasterize([Polyline(xs, ys, 1.0, cols)], 2, c)
    r, q = px(c, 5, 5)
    assert tuple(img[1, r, q]) == (0, 0, 255)
    assert tuple(img[0, px(c, 5, 9)[0] + 1, q]) == (255, 0, 0)


def test_shapes_outside_frame_are_skipped():
    img = rasterize([Circle(100, 100, 2)], 2, Canvas(16))
    assert (img == 255).all()


def test_points_to_scene_matches_matplotlib_pixels():
    c = Canvas(96, (0, 20), (0, 20))
    # 3 pt at dpi 96 on a 1-inch figure = 4 px = 4/96 of the frame
    assert c.points_to_scene(3) / c.dx == pytest.approx(4.0)
    assert Canvas(64, (0, 20), (0, 20)).points_to_scene(3) == pytest.approx(20 * 3 / 72)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "64", True])
def test_bad_resolution(bad):
    with pytest.raises(ValueError, match="resolution must be a positive integer"):
        Canvas(bad)


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="xlim must be a finite increasing pair"):
        Canvas(8, (1, 1))
    with pytest.raises(ValueError, match=r"Circle.cx must be a scalar or have length 3"):
        rasterize([Circle(np.zeros(2), 0, 1)], 3, Canvas(8))
    with pytest.raises(ValueError, match="Circle.r has non-finite values"):
        rasterize([Circle(0, 0, np.nan)], 1, Canvas(8))
    with pytest.raises(ValueError, match="unknown colour 'mauve'"):
        Circle(0, 0, 1, "mauve")
    with pytest.raises(ValueError, match="cap must be 'round' or 'butt'"):
        Segment(0, 0, 1, 1, 1, cap="square")
    with pytest.raises(ValueError, match="number of scenes must be a non-negative integer"):
        rasterize([], -1, Canvas(8))
