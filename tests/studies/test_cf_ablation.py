"""The counterfactual ablation study: its rows are the recipe fields they name, its runs live
where scripts/compare_variants.py puts them, and one small run scores end to end (~40 s)."""
import pytest

from icm_utils.model.recipes import RECIPES, get_recipe
from icm_utils.studies import cf_ablation as ca

SMALL = dict(datasets=("pendulum",), seeds=(0,), epochs=1, resolution=32, n_train=128)


def test_rows_change_one_recipe_field_each_and_the_named_recipe_is_all_three():
    base = RECIPES["official_joint"]
    free = ca.configs("free_shift", **SMALL)[0].resolved_recipe()
    assert (free.flow_bound, free.prior_parents, free.independence) == ("scale", "graph", 0.0)
    both = ca.configs("free_shift+label_prior", **SMALL)[0].resolved_recipe()
    allthree = RECIPES["independent_noise"]
    assert get_recipe(base, flow_bound="scale", prior_parents="none", independence=1.0
                      ).to_dict() | {"name": "x"} == allthree.to_dict() | {"name": "x"}
    assert (both.flow_bound, both.prior_parents) == (allthree.flow_bound, allthree.prior_parents)
    assert ca.configs("causal_vae", **SMALL)[0].model == "causal_vae"
    # the remedies for caused-variable interventions: the named recipe with one field changed,
    # run where the leak was measured (Pendulum) only
    lat = ca.configs("noise_vs_latents", **SMALL)[0].resolved_recipe()
    dec = ca.configs("per_variable_decoders", **SMALL)[0].resolved_recipe()
    assert (lat.independence_of, lat.flow_bound, lat.independence) == ("latents", "scale", 1.0)
    assert (dec.decoder, dec.prior_parents) == ("mean", "none")
    assert ca.configs("per_variable_decoders", datasets=("flow",), seeds=(0,)) == []
    assert len(ca.configs("independent_noise", seeds=(0,))) == 2  # both datasets
    with pytest.raises(ValueError, match="unknown variant"):
        ca.configs("nope")


def test_study_trains_scores_and_publishes(tmp_path):
    variants = ["official_joint", "independent_noise"]
    ca.train(tmp_path / "runs", variants, **SMALL)
    small = {k: v for k, v in SMALL.items() if k != "datasets"}
    t = ca.evaluate(tmp_path / "runs", "pendulum", variants, n_units=12, probe_epochs=1, **small)
    summary = ca.counterfactual_summary(t["counterfactual_scores"])
    assert set(summary["model"]) == {*variants, "control:do_nothing", "control:simulator"}
    assert set(summary["intervened_on"]) == {"root", "non-root"}
    assert (summary["seeds"] == 1).all()
    ident = t["identifiability"]
    assert {"control:oracle", *variants} <= set(ident["model"])
    assert set(t["health"]["model"]) == set(variants)
    ca.publish(t, tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "identifiability_tidy.csv", "counterfactual_scores.csv", "counterfactual_summary.csv",
        "soundness_scores.csv", "soundness_summary.csv", "training_health.csv", "targets.csv",
        "study.json"}
    # a summary cell is the mean of its rows in the tidy scores (one seed: no averaging over seeds)
    s = t["counterfactual_scores"]
    rows = s[(s["model"] == "official_joint") & (s["intervened_on"] == "root")
             & (s["role"] == "descendant")]
    cell = summary.set_index(["model", "intervened_on"]).loc[("official_joint", "root")]
    assert cell["descendant"] == pytest.approx(rows["factor_error"].mean())
    # the baseline-vs-model row is their difference of root descendant errors
    check_rows = ca.target_check(s, ident, model="independent_noise", baseline="official_joint")
    diff = check_rows.set_index("criterion").loc[
        "root descendants: official_joint - independent_noise", "mean"]
    other = summary.set_index(["model", "intervened_on"]).loc[("independent_noise", "root")]
    assert diff == pytest.approx(cell["descendant"] - other["descendant"])
    check = ca.target_check(t["counterfactual_scores"], ident, baseline="official_joint")
    assert list(check["criterion"])[:5] == list(ca.TARGETS)
    assert (check["seeds"] == 1).all() and check["met"].dtype == bool
    with pytest.raises(FileNotFoundError, match="no finished runs"):
        ca.evaluate(tmp_path / "empty", "pendulum", variants, **small)
