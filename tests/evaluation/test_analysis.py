"""Tidy identifiability tables from trained runs, summaries, claims and plots (~20 s)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from icm_utils.core.stats import match_blocks  # noqa: E402
from icm_utils.evaluation import controls, identifiability, metrics  # noqa: E402
from icm_utils.evaluation.analysis import (  # noqa: E402
    AGREEMENT,
    BETWEEN,
    DIM_METRICS,
    TIDY_COLUMNS,
    claims_markdown,
    compare_models,
    control_codes,
    encode_runs,
    evaluate_runs,
    per_factor_mcc,
    read_tidy,
    score_codes,
    settings_adequate,
    summary_table,
    wide_summary,
    write_results,
)
from icm_utils.evaluation.codes import RunCodes  # noqa: E402
from icm_utils.evaluation.factor_sets import (  # noqa: E402
    factor_set_table,
    identification_pattern,
    plot_factor_sets,
)
from icm_utils.evaluation.identifiability_plots import (  # noqa: E402
    block_projection,
    plot_block_scatter,
    plot_importance,
    plot_metric_bars,
)
from icm_utils.training.config import TrainConfig  # noqa: E402
from icm_utils.training.sweep import sweep  # noqa: E402

BLOCK_METRICS = set(metrics.evaluate_all(np.random.default_rng(0).normal(size=(40, 2, 1)),
                                         np.random.default_rng(1).normal(size=(40, 2)))
                    ) | set(identifiability.MEASURES)


def tiny(seed: int, model: str = "icm_vae") -> TrainConfig:
    return TrainConfig(model=model, seed=seed, resolution=32, epochs=1, n_train=64, batch_size=32)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    cfgs = [tiny(0), tiny(1)]
    status = sweep(cfgs, root, scheduler="sync", progress=False)
    assert list(status["status"]) == ["done", "done"], status.to_dict("records")
    return root, cfgs


@pytest.fixture(scope="module")
def codes(runs):
    root, cfgs = runs
    return encode_runs(root, cfgs, split="test", max_samples=200)


# ---------------------------------------------------------------- trained runs
def test_evaluate_runs_tidy_rows_for_two_seeds(runs, codes):
    root, cfgs = runs
    df = evaluate_runs(root, cfgs, max_samples=200)
    assert list(df.columns) == TIDY_COLUMNS
    per_run = BLOCK_METRICS | {f"{m}_dim" for m in DIM_METRICS}
    for s in ("0", "1"):
        assert set(df.loc[df["seed"] == s, "metric"]) == per_run
    pair = df[df["seed"] == "0-1"]
    assert set(pair["metric"]) == {BETWEEN, f"{BETWEEN}_dim", AGREEMENT}
    assert len(df) == 2 * len(per_run) + 3
    assert (df["dataset"] == "pendulum").all() and (df["model"] == "icm_vae").all()
    assert np.isfinite(df["value"]).all()
    # the values are metrics.py's on the same codes (the reuse path gives the same table)
    z0, f0 = codes[0].codes, codes[0].factors
    assert z0.shape == (200, 4, 4) and f0.shape == (200, 4)
    got = df.set_index(["seed", "metric"])["value"]
    assert got[("0", "mcc_spearman")] == pytest.approx(
        metrics.mcc(z0, f0, method="spearman", level="block"))
    assert got[("0", "irs_dim")] == pytest.approx(metrics.irs(z0, f0, level="dim").irs)
    assert got[("0-1", BETWEEN)] == pytest.approx(metrics.mcc_between(
        z0, codes[1].codes, method="spearman", level="block"))
    # icm_vae is aligned: block i is scored against factor i, not the best matching
    assert got[("0", "own_factor_r2")] == pytest.approx(identifiability.block_scores(
        z0, f0, block_of=np.arange(4)).own_r2.mean())
    assert got[("0-1", AGREEMENT)] == pytest.approx(identifiability.block_agreement(
        z0, codes[1].codes).score)
    again = evaluate_runs(root, cfgs, run_codes=codes)
    pd.testing.assert_frame_equal(df, again)


def test_unfinished_runs_are_skipped_with_a_warning(runs):
    root, cfgs = runs
    with pytest.warns(RuntimeWarning, match="seed7"):
        got = encode_runs(root, [cfgs[0], tiny(7)], max_samples=50)
    assert [rc.seed for rc in got] == [0] and got[0].aligned  # icm_vae's prior ties blocks
    assert got[0].names == ["pendulum_angle", "light_position", "shadow_length",
                            "shadow_position"]


def test_plots_one_panel_per_model_and_factor(codes):
    fig = plot_importance(codes)  # two seeds of one model: one heatmap (lowest seed)
    assert len(fig.axes) == 1 and "seed 0" in fig.axes[0].get_title()
    fig = plot_block_scatter(codes, max_points=50)
    assert len(fig.axes) == 4  # one row (one model) x four factors
    assert "seed 0" in fig.axes[0].get_ylabel()


# ---------------------------------------------------------------- known answers on codes
def _rc(model, seed, z, f, dataset="toy"):
    return RunCodes(dataset, model, seed, z, f, [f"f{i}" for i in range(f.shape[1])])


def test_score_codes_perfect_and_permuted_codes():
    rng = np.random.default_rng(0)
    f = rng.uniform(-1, 1, (300, 3))
    warped = np.c_[np.exp(2 * f[:, 2]), f[:, 0] ** 3, -f[:, 1]][:, :, None]  # (N, 3, 1)
    df = score_codes([_rc("m", 0, warped, f), _rc("m", 1, warped[:, [2, 0, 1]], f)])
    v = df.set_index(["seed", "metric"])["value"]
    assert v[("0", "mcc_spearman")] == pytest.approx(1.0)
    assert v[("1", "mcc_spearman_dim")] == pytest.approx(1.0)
    assert v[("0-1", BETWEEN)] == pytest.approx(1.0)  # a permutation of the same codes
    noise = rng.normal(size=(300, 3, 1))
    bad = score_codes([_rc("m", 0, noise, f)], dim_metrics=())
    assert bad["value"][bad["metric"] == "mcc_spearman"].item() < 0.3
    assert not bad["metric"].str.endswith("_dim").any()
    with pytest.raises(ValueError, match="dim metrics"):
        score_codes([_rc("m", 0, noise, f)], dim_metrics=("nope",))


def test_match_blocks_decomposes_block_mcc_and_projection_is_exact_for_linear():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(200, 3))
    z = np.stack([f[:, [2]] @ [[1.0, -2.0]], rng.normal(size=(200, 2)),
                  f[:, [0]] @ [[0.5, 0.5]] + 0.3 * rng.normal(size=(200, 2))], 1)
    block, corr = match_blocks(z, f, method="pearson")
    assert block[2] == 0 and block[0] == 2
    assert corr.mean() == pytest.approx(metrics.mcc(z, f, method="pearson", level="block"))
    np.testing.assert_allclose(block_projection(z[:, 0], f[:, 2]), f[:, 2], atol=1e-10)
    tab = per_factor_mcc([_rc("m", 3, z, f)])
    assert list(tab.columns) == ["dataset", "model", "seed", "factor", "block", "corr"]
    assert tab["corr"].mean() == pytest.approx(metrics.mcc(z, f, method="spearman",
                                                           level="block"))


def test_factor_sets_tell_elementwise_from_ancestral_mixing():
    from icm_utils.data.graph import CausalGraph

    g = CausalGraph(["a", "b", "c"], [("a", "b")])
    rng = np.random.default_rng(3)
    f = rng.normal(size=(600, 3))
    # block 0 = a (elementwise), block 1 = b mixed with its parent a, block 2 = c cubed
    z = np.stack([f[:, 0], f[:, 1] + 2 * f[:, 0], f[:, 2] ** 3], 1)[:, :, None]
    rc = RunCodes("toy", "m", 0, z, f, ["a", "b", "c"], aligned=True)
    t = factor_set_table([rc], g).set_index(["factor", "set"])["r2"]
    assert t[("a", "own")] > 0.95 and t[("c", "own")] > 0.95
    assert t[("b", "own")] < 0.4  # b alone explains 1/5 of the block's variance
    assert t[("b", "own+parents")] > 0.9 and t[("b", "own+ancestors")] > 0.9
    table = factor_set_table([rc], g)
    pat = identification_pattern(table)
    assert pat.loc[("m", "non-root"), "own"] < 0.7 < pat.loc[("m", "root"), "own"]
    assert len(plot_factor_sets(table).axes) == 1


# ---------------------------------------------------------------- summaries and files
@pytest.fixture
def hand():
    rows = [("d", "a", "0", "mcc_spearman", 0.90), ("d", "a", "1", "mcc_spearman", 0.95),
            ("d", "a", "2", "mcc_spearman", 1.00), ("d", "b", "0", "mcc_spearman", 0.50),
            ("d", "b", "1", "mcc_spearman", 0.60), ("d", "b", "2", "mcc_spearman", 0.55),
            ("d", "a", "0", "irs", 0.70), ("d", "b", "0", "irs", 0.80),
            ("d", "a", "0-1", BETWEEN, 0.8)]
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def test_summary_mean_std_and_display(hand):
    s = summary_table(hand).set_index(["model", "metric"])
    assert s.loc[("a", "mcc_spearman"), "mean"] == pytest.approx(0.95)
    assert s.loc[("a", "mcc_spearman"), "std"] == pytest.approx(0.05)  # sample std (ddof 1)
    assert s.loc[("a", "mcc_spearman"), "n"] == 3
    assert s.loc[("a", "mcc_spearman"), "display"] == "0.95 ± 0.05"
    assert s.loc[("b", "irs"), "display"] == "0.80"  # one seed: no spread to show
    wide = wide_summary(summary_table(hand), ["irs", "mcc_spearman"])
    assert list(wide.columns) == ["irs", "mcc_spearman"]
    assert wide.loc[("d", "b"), "mcc_spearman"] == "0.55 ± 0.05"
    with pytest.raises(ValueError, match="missing"):
        summary_table(hand.drop(columns="seed"))


def test_write_results_round_trip(hand, tmp_path):
    tidy, summ = write_results(hand, tmp_path / "results", name="t")
    assert tidy.name == "t_tidy.csv" and summ.name == "t_summary.csv"
    back = read_tidy(tidy)
    pd.testing.assert_frame_equal(back, hand)
    assert back.loc[8, "seed"] == "0-1"
    s = pd.read_csv(summ)
    assert list(s.columns) == ["dataset", "model", "metric", "n", "mean", "std", "display"]
    assert len(s) == 5


def _with_controls(df: pd.DataFrame) -> pd.DataFrame:
    """Control rows: mcc_spearman and the between-seed MCC discriminative, irs not."""
    vals = {"mcc_spearman": (1.0, 0.4, 0.5), "irs": (0.9, 0.8, 0.7), BETWEEN: (1.0, 0.5, 0.5)}
    rows = [("d", controls.label(kind), seed, m, v)
            for m, vs in vals.items()
            for kind, v in zip((controls.ORACLE, *controls.NULLS), vs, strict=True)
            for seed in (("0-1",) if m == BETWEEN else ("0", "1"))]
    return pd.concat([df, pd.DataFrame(rows, columns=TIDY_COLUMNS)], ignore_index=True)


def test_compare_models_verdicts_only_on_discriminative_metrics(hand):
    full = _with_controls(hand)
    cmp = compare_models(full, "a").set_index("metric")
    assert list(cmp.index) == ["mcc_spearman", "irs"]  # claim order; b has no between-seed
    assert cmp.loc["mcc_spearman", "verdict"] == "higher"  # 0.95 vs 0.55, se 0.04
    assert cmp.loc["mcc_spearman", "best_baseline"] == "b"  # never a control
    assert cmp.loc["mcc_spearman", "oracle"] == 1.0 and cmp.loc["mcc_spearman", "best_null"] == 0.5
    assert cmp.loc["irs", "verdict"] == "not discriminative"  # oracle 0.9 vs null 0.8
    close = full.copy()
    close.loc[close["model"] == "b", "value"] += 0.38  # b: 0.88..0.98, within noise of a
    assert compare_models(close, "a").set_index("metric").loc["mcc_spearman",
                                                              "verdict"] == "within noise"
    bare = compare_models(hand, "a").set_index("metric")  # no control rows: no verdicts
    assert set(bare["verdict"]) == {"no controls"}
    text = claims_markdown(cmp.reset_index(), *settings_adequate(1, 2, 256))
    assert "too small to judge" in text and "1 epoch(s) < 20" in text and "0.95" in text
    assert "`irs` is *not discriminative* (oracle 0.90, best entangled null 0.80)" in text
    assert "no verdict" in text and "**higher**" in text
    assert "no better than an entangled code" not in text  # a: 0.95 > null 0.5
    weak = full.copy()
    weak.loc[(weak["model"] == "a") & (weak["metric"] == "mcc_spearman"), "value"] -= 0.5
    assert "a itself is no better than an entangled code" in claims_markdown(
        compare_models(weak, "a"), True)  # a: 0.45 <= best null 0.5
    assert "No discriminative metric" in claims_markdown(bare.reset_index(), True)
    assert settings_adequate(40, 3, None) == (True, [])
    with pytest.raises(ValueError, match="control"):
        compare_models(full, "control:oracle")


def test_controls_are_scored_on_the_runs_units_and_never_baselines():
    rng = np.random.default_rng(4)
    f = rng.uniform(-1, 1, (300, 3))
    model = [_rc("m", s, f[:, :, None] ** 3 + 0.01 * rng.normal(size=(300, 3, 1)), f)
             for s in (0, 1)]
    ctrl = control_codes(model, kinds=(controls.ORACLE, controls.NULL_LINEAR), seeds=(0, 1))
    assert [(c.model, c.seed, c.aligned) for c in ctrl] == [
        ("control:oracle", 0, True), ("control:oracle", 1, True),
        ("control:null_linear", 0, False), ("control:null_linear", 1, False)]
    assert all(c.codes.shape == (300, 3, 1) and c.factors is f for c in ctrl)
    df = score_codes(model + ctrl, dim_metrics=())
    per_run = set(df.loc[df["model"] == "m", "metric"])
    assert set(df.loc[df["model"] == "control:oracle", "metric"]) == per_run
    gaps = controls.control_gaps(df).set_index("metric")
    assert gaps.loc["own_factor_r2", "discriminative"] and gaps.loc[AGREEMENT, "discriminative"]
    assert compare_models(df, "m").empty  # only controls besides m: no baseline
    with pytest.raises(ValueError, match="units"):
        control_codes([model[0], _rc("m", 2, model[0].codes[:200], f[:200])])


def test_metric_bars_one_panel_per_available_metric(hand):
    fig = plot_metric_bars(hand)
    assert [ax.get_title() for ax in fig.axes] == [
        "MCC, Spearman\n(blocks vs true factors)", "IRS\n(robustness to other factors)",
        "MCC between seeds\n(Spearman, seed pairs)"]
    with pytest.raises(ValueError, match="none of"):
        plot_metric_bars(hand, ["nope"])
