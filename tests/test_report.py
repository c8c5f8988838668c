"""Result tables are rendered from committed result folders; the documents must match them."""
import pandas as pd
import pytest

from icm_utils import report


def _folder(tmp_path):
    rows = []
    for seed, v in (("0", 0.9), ("1", 0.7)):
        rows.append(("toy", "icm_vae", seed, "dci_disentanglement", v))
        rows.append(("toy", "icm_vae", seed, "mcc_spearman", 0.95))
    for seed in ("0", "1"):
        rows.append(("toy", "control:oracle", seed, "dci_disentanglement", 1.0))
        rows.append(("toy", "control:null_linear", seed, "dci_disentanglement", 0.3))
        rows.append(("toy", "control:oracle", seed, "mcc_spearman", 1.0))
        rows.append(("toy", "control:null_linear", seed, "mcc_spearman", 0.98))
    pd.DataFrame(rows, columns=["dataset", "model", "seed", "metric", "value"]).to_csv(
        tmp_path / "identifiability_tidy.csv", index=False)
    pd.DataFrame({"model": ["icm_vae", "icm_vae", "control:simulator", "control:do_nothing"],
                  "seed": [0, 1, 0, 0], "descendant": [0.4, 0.6, 0.01, 0.9],
                  "intervened": [0.5, 0.5, 0.03, 1.2], "non-descendant": [0.2, 0.2, 0.02, 0.01],
                  "image_mse": [0.0201, 0.0199, 0.0, 0.02]}).to_csv(
        tmp_path / "counterfactual_summary_toy.csv", index=False)
    return tmp_path


def test_identifiability_table_known_values(tmp_path):
    t = report.identifiability_table(_folder(tmp_path), "toy")
    head, _, *rows = t.splitlines()
    # DCI: oracle 1.0 vs null 0.3 (gap 0.7) is discriminative; MCC (gap 0.02) is not
    assert "**DCI disent.**" in head and "MCC Spearman *(not discr.)*" in head
    icm = next(r for r in rows if r.startswith("| `icm_vae`"))
    assert icm == "| `icm_vae` | 0.80 ± 0.14 | 0.95 ± 0.00 |"  # std over seeds, ddof=1
    # controls come first, the oracle before the null
    names = [r.split("`")[1] for r in rows if r.startswith("| `")]
    assert names == ["control:oracle", "control:null_linear", "icm_vae"]
    with pytest.raises(ValueError, match="no rows"):
        report.identifiability_table(tmp_path, "other")


def test_counterfactual_report_known_values(tmp_path):
    t = report.counterfactual_report(_folder(tmp_path), "toy")
    assert "**cf error: intervened**" in t and "cf error: non-descendant *(not discr.)*" in t
    icm = next(r for r in t.splitlines() if r.startswith("| `icm_vae`"))
    assert icm == "| `icm_vae` | 0.50 ± 0.00 | 0.50 ± 0.14 | 0.20 ± 0.00 | 0.020 ± 0.000 |"


def test_collapse_table_known_values(tmp_path):
    _folder(tmp_path)
    pd.DataFrame([
        ("toy", "control:oracle", 0, None, None, None, 0, 8, "a", 0.99),
        ("toy", "icm_vae", 1, 2.3456, 0.0512, 1.234, 3, 8, "b", 0.1234),
        ("other", "icm_vae", 0, 0.8, 0.2, 0.5, 0, 8, "a", 0.9),
    ], columns=["dataset", "model", "seed", "log_slope", "eps_sd", "z_sd", "dead_dims", "dims",
                "weakest", "weakest_own_r2"]).to_csv(tmp_path / "collapse.csv", index=False)
    rows = report.collapse_table(tmp_path, "toy").splitlines()[2:]
    assert rows == ["| `control:oracle` |  | — | — | — | — | 0 / 8 | a (0.99) |",
                    "| `icm_vae` | 1 | 0.70 | 2.35 | 0.051 | 1.23 | 3 / 8 | b (0.12) |"]
    with pytest.raises(ValueError, match="no rows"):
        report.collapse_table(tmp_path, "missing")


def test_blocks_are_rewritten_and_staleness_detected(tmp_path):
    (tmp_path / "res").mkdir()
    _folder(tmp_path / "res")
    text = ("before\n<!-- report:counterfactual res toy -->\n| made up |\n<!-- /report -->\nafter\n")
    fresh = report.render_blocks(text, root=tmp_path)
    assert "made up" not in fresh and "0.50 ± 0.14" in fresh
    assert fresh.startswith("before\n") and fresh.endswith("<!-- /report -->\nafter\n")
    assert report.render_blocks(fresh, root=tmp_path) == fresh  # idempotent
    readme = tmp_path / "README.md"
    readme.write_text(text)
    # stale_blocks reads folders relative to the project root: point it at the fake one
    assert report.stale_blocks(readme, root=tmp_path) == ["<!-- report:counterfactual res toy -->"]
    readme.write_text(fresh)
    assert report.stale_blocks(readme, root=tmp_path) == []
    with pytest.raises(ValueError, match="unknown report block"):
        report.render_blocks("<!-- report:nope res toy -->\nx\n<!-- /report -->", root=tmp_path)


@pytest.mark.parametrize("doc", report.DOCUMENTS, ids=lambda p: p.name)
def test_document_numbers_match_the_committed_tables(doc):
    assert report.stale_blocks(doc) == [], "run: python -m icm_utils.report --write"


def test_result_tables_live_in_docs_results():
    assert len(report.BLOCK.findall(report.DOCUMENTS[1].read_text())) >= 10


def test_row_order_controls_then_models_then_graph_variants():
    got = report._order(["icm_vae[empty]", "beta_vae", "icm_vae[true]", "control:do_nothing",
                         "control:oracle", "icm_vae", "control:simulator"])
    assert got == ["control:oracle", "control:simulator", "control:do_nothing", "icm_vae",
                   "icm_vae[true]", "icm_vae[empty]", "beta_vae"]


def test_theorem_table_known_values(tmp_path):
    rows = [("g", "icm", s, n, c) for s, cs in ((0, (0.99, 0.90)), (1, (0.97, 0.94)))
            for n, c in zip("ab", cs)]
    rows += [("g", m, 0, n, v) for m, v in (("noprior", 0.5), ("control:oracle", 1.0),
                                             ("control:null_linear", 0.6),
                                             ("control:null_nonlinear", 0.7)) for n in "ab"]
    pd.DataFrame(rows, columns=["graph", "model", "seed", "node", "corr"]).to_csv(
        tmp_path / "per_node.csv", index=False)
    row = report.theorem_table(tmp_path).splitlines()[2]
    # node means 0.945 / 0.955, worst nodes 0.90 / 0.94 (node b both times)
    assert row == ("| g | 0.950 ± 0.007 | 0.920 ± 0.028 (b) | 0.50 / 0.50 | 0.60 / 0.70 "
                   "| 1.00 |")


def test_diagnosis_table_known_answer(tmp_path):
    rows = [("8-node", "default", "icm", "a", 0.9), ("8-node", "default", "icm", "b", 0.7),
            ("8-node", "default", "supervised", "a", 0.99), ("8-node", "default", "supervised", "b", 0.95),
            ("6-node", "wide", "icm", "a", 0.8), ("6-node", "wide", "icm", "b", 0.6)]
    df = pd.DataFrame(rows, columns=["graph", "condition", "model", "node", "corr"]).assign(seed=0)
    df.to_csv(tmp_path / "diagnosis.csv", index=False)
    lines = report.TABLES["theorem_diagnosis"](tmp_path, "all").splitlines()
    assert lines[2:] == ["| 6-node: wide | 1 | 0.700 | 0.600 (b) | — |",
                         "| 8-node: default | 1 | 0.800 | 0.700 (b) | 0.970 / 0.950 |"]
    # a second seed of one condition: mean ± std over seeds (std of 0.7 and 0.5 is 0.141)
    seed1 = pd.DataFrame([("6-node", "wide", "icm", "a", 0.4, 1), ("6-node", "wide", "icm", "b", 0.6, 1)],
                         columns=list(df.columns))
    pd.concat([df, seed1]).to_csv(tmp_path / "diagnosis.csv", index=False)
    lines = report.TABLES["theorem_diagnosis"](tmp_path, "all").splitlines()
    assert lines[2] == "| 6-node: wide | 2 | 0.600 ± 0.141 | 0.500 ± 0.141 (b, a) | — |"


def test_causal_cf_table_splits_root_and_caused_targets(tmp_path):
    """The ablation's table: seeds counted per row, errors averaged per seed then over seeds,
    root and non-root interventions apart, an absent role shown as a dash."""
    ident = pd.DataFrame([
        ("pendulum", m, s, metric, v) for m, s, v in
        [("control:oracle", "0", 1.0), ("control:null_linear", "0", 0.3), ("recipe_a", "0", 0.9),
         ("recipe_a", "1", 0.7)] for metric in ("dci_disentanglement", "own_factor_r2")],
        columns=["dataset", "model", "seed", "metric", "value"])
    ident.to_csv(tmp_path / "identifiability_tidy.csv", index=False)
    rows = []
    for model, seed, err in [("recipe_a", 0, 0.2), ("recipe_a", 1, 0.4),
                             ("control:do_nothing", 0, 1.2)]:
        for target, on in [("angle", "root"), ("shadow", "non-root")]:
            for var, role in [("angle", "intervened" if target == "angle" else "non-descendant"),
                              ("shadow", "descendant" if target == "angle" else "intervened")]:
                rows.append({"model": model, "seed": seed, "target": target, "value": 0.0,
                             "intervened_on": on, "variable": var, "role": role,
                             "factor_error": err, "image_mse": 0.01, "dataset": "pendulum"})
    pd.DataFrame(rows).to_csv(tmp_path / "counterfactual_scores.csv", index=False)
    with pytest.raises(FileNotFoundError, match="study.json is missing"):
        report.causal_cf_table(tmp_path, "pendulum")
    (tmp_path / "study.json").write_text('{"resolution": 48}')
    table = report.causal_cf_table(tmp_path, "pendulum")
    assert "*pendulum, 48 px;" in table  # the study's setting, read like its numbers
    line = next(row for row in table.splitlines() if row.startswith("| `recipe_a`"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1] == "2" and cells[2] == "0.80 ± 0.14"
    assert cells[4] == "0.30 ± 0.14"  # root: intervened, mean of the two seeds' 0.2 and 0.4
    assert cells[8] == "—"  # a caused variable here has no descendant
    assert "`control:do_nothing`" in table and "`control:oracle`" in table
    with pytest.raises(ValueError, match="no rows"):
        report.causal_cf_table(tmp_path, "flow")
    # a notebook-05 run's folder: one dataset's scores, named after it, no dataset column
    nb = tmp_path / "quick"
    nb.mkdir()
    ident.to_csv(nb / "identifiability_tidy.csv", index=False)
    pd.DataFrame(rows).drop(columns="dataset").to_csv(nb / "counterfactual_scores_pendulum.csv",
                                                       index=False)
    (nb / "study.json").write_text('{"resolution": 48}')
    assert report.causal_cf_table(nb, "pendulum") == table


def test_causal_cf_targets_and_soundness_tables(tmp_path):
    pd.DataFrame([
        {"dataset": "pendulum", "criterion": "root intervened", "mean": 0.05, "std": 0.01,
         "seeds": 3, "target": "<= 0.15", "met": True},
        {"dataset": "pendulum", "criterion": "block DCI", "mean": 0.9, "std": float("nan"),
         "seeds": 1, "target": ">= 0.95", "met": False}]).to_csv(tmp_path / "targets.csv",
                                                                 index=False)
    t = report.causal_cf_targets(tmp_path, "pendulum").splitlines()
    assert t[2] == "| root intervened | 0.05 ± 0.01 | 3 | <= 0.15 | yes |"
    assert t[3] == "| block DCI | 0.90 | 1 | >= 0.95 | **no** |"
    rows = [{"dataset": "pendulum", "model": "m", "seed": s, "target": "a", "value": 0.0,
             "intervened_on": "root", "composition": 0.0, "composition_x5": c,
             "reversibility": 0.002, "reconstruction_mse": 0.001} for s, c in ((0, 0.001),
                                                                                 (1, 0.003))]
    pd.DataFrame(rows).to_csv(tmp_path / "soundness_scores.csv", index=False)
    (tmp_path / "study.json").write_text('{"soundness_units": 7}')
    sound = report.causal_cf_soundness(tmp_path, "pendulum").splitlines()
    assert sound[2] == "| `m` | root | 2.00 ± 1.41 | 2.00 ± 0.00 | 1.00 ± 0.00 |"
    assert "composition ×5" in sound[0] and "on the first 7 held-out units" in sound[-1]
    with pytest.raises(ValueError, match="no targets"):
        report.causal_cf_targets(tmp_path, "flow")


def test_time_to_quality_and_run_time_known_values(tmp_path):
    (tmp_path / "study.json").write_text('{"resolution": 32}')
    rows = [{"dataset": "pendulum", "recipe": "r9", "epochs": e, "seed": s, "train_seconds": t,
             "s_per_epoch": 5.0,
             "block_dci": d, "own_factor_r2": 0.9, "root_intervened": 0.1,
             "root_descendants": 0.2, "root_non_descendants": 0.05}
            for e, s, t, d in ((5, 0, 25.0, 0.5), (5, 1, 27.0, 0.7), (10, 0, 50.0, 1.0))]
    pd.DataFrame(rows).to_csv(tmp_path / "time_to_quality.csv", index=False)
    t = report.time_to_quality_table(tmp_path, "pendulum").splitlines()
    assert t[2] == "| 5 | 2 | 26 s | 0.60 ± 0.14 | 0.90 ± 0.00 | 0.10 ± 0.00 | 0.20 ± 0.00 | 0.05 ± 0.00 |"
    assert t[3].startswith("| 10 | 1 | 50 s | 1.00 |")
    assert t[-1].startswith("*ICM-VAE, recipe r9, pendulum, 32 px;")
    pd.DataFrame({"notebook": ["01_data", "03_training"], "seconds": [30.4, 545.0],
                  "profile": "quick", "cpu": "AMD EPYC", "cores": 2}).to_csv(
        tmp_path / "notebook_times.csv", index=False)
    assert report.run_times(tmp_path) == ("**9 min 35 s** in all (01_data 30 s, 03_training "
                                          "9 min 05 s) on AMD EPYC, 2 cores")
    pd.DataFrame({"median_epoch_seconds": [4.0, 5.0, 9.0]}).to_csv(
        tmp_path / "training_health.csv", index=False)
    assert report.run_times(tmp_path).endswith("2 cores, 5.0 s per training epoch")


def test_speed_levers_known_values(tmp_path):
    pd.DataFrame({"dataset": "pendulum", "model": "icm_vae", "recipe": "r",
                  "lever": ["none", "bf16"],
                  "resolution": 64, "batch_size": 32, "s_per_epoch": [5.0, 4.04],
                  "s_per_epoch_min": [4.3, 4.0],
                  "s_per_epoch_max": [5.1, 5.2], "s_per_epoch_count": 5,
                  "images_per_s": [1111.5, 1200.0], "peak_MB": [591.0, 594.0], "cpu": "X"}).to_csv(
        tmp_path / "speed_levers.csv", index=False)
    t = report.speed_levers(tmp_path).splitlines()
    assert t[2] == "| none | 5.0 (4.3-5.1) | 5 | 1,112 | 591 MB |"
    assert t[3] == "| bf16 | 4.0 (4.0-5.2) | 5 | 1,200 | 594 MB |"
    assert t[-1] == "*icm_vae under r, pendulum at 64 px, batch 32, on X.*"


def _ladder_folder(tmp_path):
    """A ladder's tables: levels 0, 1, 2; `objects` on seeds 0 and 1 (errors 0.1 and 0.3 plus the
    level), doing nothing on one; image MSE 0.002 everywhere."""
    rows, ident = [], []
    for lv in (0.0, 1.0, 2.0):
        for model, seed, err in [("objects", 0, 0.1), ("objects", 1, 0.3),
                                 ("control:do_nothing", 0, 1.2)]:
            for target, on in [("angle", "root"), ("shadow", "non-root")]:
                for var, role in [("angle", "intervened" if on == "root" else "non-descendant"),
                                  ("shadow", "descendant" if on == "root" else "intervened")]:
                    rows.append({"dataset": "pendulum", "noise_std": lv, "model": model,
                                 "seed": seed, "target": target, "value": 0.0,
                                 "intervened_on": on, "variable": var, "role": role,
                                 "factor_error": err + lv, "image_mse": 0.002})
            if model == "objects":
                ident.append(("pendulum", lv, model, str(seed), "dci_disentanglement",
                              0.9 + seed / 20))
    scores = pd.DataFrame(rows)
    scores.to_csv(tmp_path / "counterfactual_scores.csv", index=False)
    pd.DataFrame(ident, columns=["dataset", "noise_std", "model", "seed", "metric", "value"]
                 ).to_csv(tmp_path / "identifiability_tidy.csv", index=False)
    (tmp_path / "study.json").write_text('{"recipe": "r", "resolution": 64, "epochs": 15, '
                                         '"n_units": 9}')
    return scores


def test_support_headline_known_values(tmp_path):
    """The README's caused-variable table: the grid and the highest noise level only, each row's
    seeds averaged per seed then over seeds, image MSE shown x1e3, controls without DCI."""
    _ladder_folder(tmp_path)
    lines = report.support_headline(tmp_path).splitlines()
    body = [line for line in lines if line.startswith("| pendulum")]
    assert [line.split("|")[1].strip() for line in body] == ["pendulum, grid"] * 2 + [
        "pendulum, noise 2"] * 2  # level 1 is the ladder's, not the headline's
    assert body[1] == "| pendulum, grid | `objects` | 2 | 0.20 ± 0.14 | 0.20 ± 0.14 | " \
                      "2.0 ± 0.0 | 0.20 ± 0.14 | 0.93 ± 0.04 |"
    assert body[3].split("|")[4].strip() == "2.20 ± 0.14"
    assert body[0].split("|")[3].strip() == "—" and "9 held-out units" in lines[-1]


def test_support_ladder_table_known_values(tmp_path):
    """Every level, its share of the spread, the epochs read from the runs' health table."""
    from icm_utils.studies import support_ladder as sl

    scores = _ladder_folder(tmp_path)
    sl.summary(scores).assign(share=lambda t: t["noise_std"] / 4).to_csv(
        tmp_path / "counterfactual_summary.csv", index=False)
    pd.DataFrame({"dataset": "pendulum", "model": ["objects", "objects_30ep"],
                  "epochs": [15, 30]}).to_csv(tmp_path / "training_health.csv", index=False)
    lines = report.support_ladder_table(tmp_path, "pendulum").splitlines()
    row = next(line for line in lines if line.startswith("| 1 (25%) | `objects`"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:] == ["2", "0.93 ± 0.04", "1.20 ± 0.14", "1.20 ± 0.14", "—", "1.20 ± 0.14",
                         "1.20 ± 0.14", "2.0 ± 0.0"]
    assert "15 epochs (objects_30ep: 30)" in lines[-1]


def test_claims_tables_known_values(tmp_path):
    pd.DataFrame([{"claim": "identifiable", "measured": "each node's |Spearman| >= 0.95",
                   "recipes": "official_joint", "seeds": 3, "official_joint": "0.96",
                   "beyond_paper": "0.97", "verdict": "partly", "tables": "results/theorem"}]
                 ).to_csv(tmp_path / "claims.csv", index=False)
    head, _, row, _, note = report.claims_table(tmp_path).splitlines()
    assert row == ("| identifiable | each node's \\|Spearman\\| >= 0.95 | 0.96 | 0.97 | 3 | "
                   "**partly** |")  # a "|" in a cell is escaped, so the row keeps six cells
    assert "(sources: results/theorem)" in note
    assert report.claims_verdicts(tmp_path).splitlines()[2] == "| identifiable | **partly** | 3 |"
    rows = [{"dataset": "toy", "recipe": r, "model": m, "criterion": c, "mean": v, "std": sd,
             "seeds": n, "epochs": 15}
            for r in ("official_joint", "independent_noise")
            for m, c, v, sd, n in (("icm_vae[true]", "root: descendants", 0.1, 0.02, 3),
                                   ("icm_vae[empty]", "root: descendants", 0.6, 0.04, 3),
                                   ("control:do_nothing", "root: descendants", 0.9, None, 1))]
    pd.DataFrame(rows).to_csv(tmp_path / "misspec_summary.csv", index=False)
    lines = report.claims_misspec(tmp_path, "toy").splitlines()
    assert lines[0] == "| recipe (epochs) | graph told | seeds | root: descendants |"
    assert lines[2:5] == ["| official_joint (15) | `control:do_nothing` | — | 0.90 |",
                          "| official_joint (15) | `true` | 3 | 0.10 ± 0.02 |",
                          "| official_joint (15) | `empty` | 3 | 0.60 ± 0.04 |"]
    pd.DataFrame([{"dataset": "toy", "recipe": "independent_noise", "graph": "empty",
                   "criterion": "root: descendants", "cost": 0.5, "z": 9.04, "reading": "worse"},
                  {"dataset": "toy", "recipe": "independent_noise", "graph": "empty",
                   "criterion": "block DCI", "cost": -0.01, "z": -0.5, "reading": "within noise"}]
                 ).to_csv(tmp_path / "misspec_costs.csv", index=False)
    assert report.claims_costs(tmp_path, "toy").splitlines()[2] == (
        "| independent_noise | `empty` | **+0.50 (+9.0 SE)** | -0.01 (-0.5 SE) |")


def test_speed_profile_known_values(tmp_path):
    meta = {"model": "icm_vae", "recipe": "independent_noise", "dataset": "pendulum",
            "resolution": 64, "batch_size": 64, "steps": 40, "cpu": "CPU X", "isa": "avx2",
            "threads": 2, "clock_GHz": 2.45, "GFLOP_per_step": 4.74, "GFLOP_per_s": 63.7,
            "peak_GFLOP_per_s": 156.8, "fraction_of_peak": 0.406, "s_per_epoch": 6.4}
    pd.DataFrame([{"part": p, "ms_per_step": v, "share_of_step": v / 80, **meta}
                  for p, v in (("backward", 40.0), ("forward: decoder", 20.0),
                               ("step", 80.0))]).to_csv(tmp_path / "profile_avx2.csv", index=False)
    lines = report.speed_profile(tmp_path, "profile_avx2").splitlines()
    assert lines[2:5] == ["| backward | 40.0 | 50% |", "| forward: decoder | 20.0 | 25% |",
                          "| **step** | **80.0** | 100% |"]
    assert "4.74 GFLOP per step" in lines[-1] and "= 41% of a 157 GFLOP/s peak" in lines[-1]


def test_speed_convs_known_values(tmp_path):
    meta = {"model": "icm_vae", "recipe": "independent_noise", "resolution": 64, "batch_size": 64,
            "cpu": "CPU X", "isa": "avx2", "threads": 2, "convs_ms": 30.0,
            "convs_ms_at_best_rate": 20.0, "best_GFLOP_per_s": 120.0, "step_ms": 50.0,
            "step_ms_at_best_rate": 40.0, "bound_speedup": 1.25}
    pd.DataFrame([{"layer": "encoder.conv.0", "input": "3x64x64", "out_channels": 16,
                   "fwd_ms": 1.0, "bwd_ms": 9.0, "fwd_GFLOP_per_s": 100.0,
                   "bwd_GFLOP_per_s": 22.2, **meta},
                  {"layer": "decoder.deconv.6", "input": "16x32x32", "out_channels": 3,
                   "fwd_ms": 5.0, "bwd_ms": 15.0, "fwd_GFLOP_per_s": 20.0,
                   "bwd_GFLOP_per_s": 13.3, **meta}]).to_csv(tmp_path / "convs.csv", index=False)
    lines = report.speed_convs(tmp_path, "convs").splitlines()
    assert lines[2] == "| `encoder.conv.0` | 3x64x64 | 16 | 1.0 | 100 | 9.0 | 22 |"
    assert lines[4] == "| **all** | | | 6.0 | | 24.0 | |"
    assert "take 30.0 ms" in lines[-1] and "at most 1.25x" in lines[-1]


def test_claims_theorem_known_values(tmp_path):
    rows = [{"graph": "6-node", "model": "icm", "seed": s, "node": n, "role": role, "corr": c,
             "recipe": r}
            for r, shift in (("independent_noise", 0.01), ("official_joint", 0.0))
            for s in (0, 1) for n, role, c in (("a", "root", 0.98), ("e", "non-root", 0.93))
            for c in [c + shift]]
    pd.DataFrame(rows).to_csv(tmp_path / "theorem_per_node.csv", index=False)
    pd.DataFrame([{"graph": "6-node", "seed": s, "min_node": "e", "holds": r == "official_joint",
                   "recipe": r} for r in ("official_joint", "independent_noise") for s in (0, 1)]
                 ).to_csv(tmp_path / "theorem_check.csv", index=False)
    lines = report.claims_theorem(tmp_path).splitlines()
    # the paper's recipe first, then the recommended one
    assert lines[2] == ("| 6-node | official_joint | 0.955 ± 0.000 | 0.930 ± 0.000 (e) | "
                        "0.980 ± 0.000 | 0.930 ± 0.000 | 2/2 |")
    assert lines[3].startswith("| 6-node | independent_noise | 0.965 ± 0.000 | 0.940 ± 0.000 (e)")
    assert lines[3].endswith("| 0/2 |")
