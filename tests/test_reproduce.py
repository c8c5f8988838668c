import json
import os
from pathlib import Path

import pandas as pd
import pytest
from circuit_fixture import write_shards

from icm_utils import reproduce as rp
from icm_utils.data.datasets import load_dataset
from icm_utils.data.folder import export_folder
from icm_utils.model.recipes import recipe_for
from icm_utils.training.config import TrainConfig
from icm_utils.training.params import PARAMETERS, TRAIN_FIELDS, check, parse_overrides
from icm_utils.training.runs import run_dir_for


def test_every_profile_plans_all_notebooks_with_valid_declared_parameters(tmp_path):
    # circuit: 03-05 on a downloaded folder; official: the trainings of 04 and 05 only; quick:
    # 01-05 (06's five graphs would double its time)
    only = {"circuit": rp.NOTEBOOKS[2:5], "official": rp.NOTEBOOKS[3:5], "quick": rp.NOTEBOOKS[:5],
            "own": (rp.NOTEBOOKS[0], *rp.NOTEBOOKS[2:5])}
    for profile in rp.PROFILES:
        if profile in ("circuit", "own"):
            continue  # planned with their folders below (test_*_profile_plans_*)
        steps = rp.plan(profile, out=tmp_path)
        assert [n for n, _ in steps] == list(only.get(profile, rp.NOTEBOOKS))
        for name, params in steps:
            declared = rp.declared_parameters(name)
            assert set(params) <= set(declared)
            assert "FIG_DIR" in declared and "SEED" in declared
            assert params["FIG_DIR"] == str(tmp_path / "figures")


def test_smoke_profile_is_the_notebooks_own_defaults():
    assert all(params == {} for _, params in rp.plan("smoke"))
    d = rp.declared_parameters("03_training")
    assert d["EPOCHS"] == 1 and d["MODEL"] == "icm_vae" and d["RUN_DIR"] is None


@pytest.mark.parametrize("profile", ["quick", "one_seed", "paper"])
def test_shared_runs_have_identical_settings(profile):
    # 03 trains icm_vae seed 0; 04, 05 and 06 (its `true` graph) must ask for the same run, so it
    # is reused, not retrained over (a run folder holds one config)
    steps = {n: {**rp.declared_parameters(n), **p} for n, p in rp.plan(profile)}
    for key in ("EPOCHS", "N_TRAIN", "RESOLUTION", "RECIPE", "K", "BATCH_SIZE"):
        values = {n: steps[n][key] for n in rp.NOTEBOOKS[2:] if key in steps.get(n, {})}
        assert len(set(map(repr, values.values()))) == 1, (key, values)


@pytest.mark.parametrize("overrides,match", [
    ({"EPOCHS": -1}, "EPOCHS: epochs must be a positive integer, got -1"),
    ({"MODEL": "vae9"}, "MODEL: model='vae9' is not one of"),
    ({"DATASET": "mnist"}, "DATASET: dataset='mnist' is not one of"),
    ({"SEEDS": [0, -1]}, r"SEEDS=\[0, -1\] has bad value\(s\) \[-1\]"),
    ({"MODELS": []}, r"MODELS=\[\] must be a non-empty list"),
    ({"SCHEDULER": "udp://x"}, "SCHEDULER='udp://x' must be 'local', 'sync'"),
    ({"N_TRAIN": 0}, "N_TRAIN: n_train must be None or a positive integer, got 0"),
    ({"EPOCHZ": 3}, "no selected notebook declares"),
    ({"RECIPE": "fast"}, "RECIPE: recipe='fast' is not one of"),
    ({"RECIPE": {"icm_vae": "fast"}}, "RECIPE: recipe='fast' is not one of"),
    ({"RECIPE": {"vae9": "official"}}, r"names unknown model\(s\) \['vae9'\]"),
    ({"RESOLUTION": 100}, r"RESOLUTION: resolution=100 is not one the nets take"),
])
def test_bad_parameters_stop_before_anything_runs(overrides, match):
    with pytest.raises(rp.ParameterError, match=match):
        rp.plan("one_seed", overrides)


def test_quick_is_the_main_job_with_the_recommended_recipe(monkeypatch):
    # what the README's command 1 runs: reproduce with no arguments
    seen = []
    monkeypatch.setattr(rp, "run", lambda profile, *a, **k: seen.append(profile))
    assert rp.main([]) == 0 and seen == ["quick"]
    steps = dict(rp.plan("quick"))
    assert "06_misspecification" not in steps
    models = steps["05_counterfactuals"]["MODELS"]
    recipes = {m: recipe_for(steps["05_counterfactuals"]["RECIPE"], m) for m in models}
    assert recipes == {"icm_vae": "independent_noise", "causal_vae": "official_joint"}
    assert recipe_for(steps["03_training"]["RECIPE"], "icm_vae") == "independent_noise"


def test_unknown_profile_and_notebook():
    with pytest.raises(rp.ParameterError, match="unknown profile"):
        rp.plan("huge")
    with pytest.raises(rp.ParameterError, match="unknown notebook"):
        rp.plan("smoke", only=["06_extra"])


def test_cli_refuses_bad_values_without_executing(monkeypatch, capsys):
    import papermill

    def never(*a, **k):
        raise AssertionError("a notebook was executed despite bad parameters")

    monkeypatch.setattr(papermill, "execute_notebook", never)
    assert rp.main(["--profile", "one_seed", "--set", "EPOCHS=-3", "--out", "/tmp/x"]) == 2
    assert "EPOCHS: epochs must be a positive integer, got -3" in capsys.readouterr().err
    assert rp.main(["--profile", "smoke", "--inplace", "--set", "EPOCHS=2"]) == 2


def test_set_parsing_is_the_one_key_value_parser():
    assert rp.parse_overrides is parse_overrides  # scripts/compare_variants.py uses it too
    assert parse_overrides(["EPOCHS=5", "MODEL=beta_vae", "SEEDS=[0, 1]", "N_TRAIN=None"]) == {
        "EPOCHS": 5, "MODEL": "beta_vae", "SEEDS": [0, 1], "N_TRAIN": None}
    with pytest.raises(rp.ParameterError, match="KEY=VALUE"):
        parse_overrides(["EPOCHS"])


# a value each parameter must refuse (TrainConfig's rules for the training parameters)
BAD = {"DATASET": "mnist", "DATASETS": ["mnist"], "MODEL": "vae9", "MODELS": ["vae9"],
       "GRAPHS": ["cyclic"], "SEED": -1, "SEEDS": [-1], "RECIPE": "fast", "FLOW": "neural",
       "DATA_DIR": 3, "CIRCUIT_MODE": "random", "EPOCHS": 0, "N_TRAIN": 0, "RESOLUTION": 100,
       "BATCH_SIZE": 0, "K": 0, "BETA_MAX": -1.0, "HPARAMS": {"widht": 8}, "N_SAMPLES": 0,
       "N_UNITS": 0, "PROBE_EPOCHS": 0, "N_PROBE": 0, "NOISE_STD": -1.0,
       "SCHEDULER": "udp://x", "SYNTH_EPOCHS": 0, "SYNTH_SEEDS": [-1], "SYNTHETIC": "no",
       "SHIPPED_PROBE": 1, "RUN_DIR": 3,
       "FIG_DIR": 3}


def test_the_schema_knows_every_declared_parameter_and_a_bad_value_of_each():
    declared = {k for n in rp.NOTEBOOKS for k in rp.declared_parameters(n)}
    assert declared <= set(PARAMETERS) and set(PARAMETERS) <= set(BAD)


@pytest.mark.parametrize("notebook", rp.NOTEBOOKS)
def test_every_declared_parameter_is_refused_by_plan_before_anything_runs(notebook):
    for name in rp.declared_parameters(notebook):
        with pytest.raises(rp.ParameterError, match=rf"in {notebook}:\n  - {name}\b"):
            rp.plan("smoke", {name: BAD[name]}, only=[notebook])


@pytest.mark.parametrize("param, field", [*TRAIN_FIELDS.items(), ("DATASET", "dataset"),
                                          ("MODEL", "model"), ("RECIPE", "recipe"),
                                          ("SEED", "seed")])
def test_what_trainconfig_refuses_plan_refuses(param, field):
    """The training parameters' bad values are TrainConfig's: the notebooks and the runner
    refuse exactly what a run would."""
    assert [f for f, _ in TrainConfig(**{field: BAD[param]}).problems()] == [field]
    with pytest.raises(rp.ParameterError, match=param):
        rp.plan("smoke", {param: BAD[param]}, only=["03_training"])


def test_run_executes_the_plan_into_one_folder(monkeypatch, tmp_path):
    import papermill

    calls = []
    monkeypatch.setattr(papermill, "execute_notebook",
                        lambda src, dst, parameters, **k: calls.append((Path(src).stem, dst, parameters)))
    out = rp.run("one_seed", out=tmp_path / "run", only=["03_training"], overrides={"EPOCHS": 3})
    assert out == tmp_path / "run" and (out / "figures").is_dir()
    (name, dst, params), = calls
    assert name == "03_training" and dst == str(out / "03_training.ipynb")
    assert params["EPOCHS"] == 3 and params["RUN_DIR"] == str(out)


def test_relative_out_folder_is_made_absolute(monkeypatch, tmp_path):
    import papermill

    monkeypatch.chdir(tmp_path)
    seen = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, parameters, **k: seen.append(parameters))
    out = rp.run("one_seed", out=Path("rel"), only=["03_training"])
    assert out == tmp_path / "rel" and seen[0]["RUN_DIR"] == str(tmp_path / "rel")


NOTEBOOK = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": [
    "# 04\n", "> **Stored outputs are smoke runs.** The outputs saved here...\n",
    "see [the results](../docs/results.md)"]}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@pytest.mark.parametrize("profile, figures_sub", [("paper", ""), ("official", "official")])
def test_publish_keeps_the_papers_figures_apart_from_other_profiles(monkeypatch, tmp_path,
                                                                     profile, figures_sub):
    import papermill

    def fake_notebook(src, dst, parameters, **k):  # what a notebook leaves in its run folder
        run_dir = Path(parameters["RUN_DIR"])
        (run_dir / "results").mkdir(exist_ok=True)
        (run_dir / "results" / "table.csv").write_text("a\n1\n")
        (run_dir / "figures" / "04_metrics.png").write_bytes(profile.encode())
        Path(dst).write_text(json.dumps(NOTEBOOK))  # the executed notebook

    monkeypatch.setattr(papermill, "execute_notebook", fake_notebook)
    clock = iter([100.0, 104.5])  # the notebook's start and end on the runner's clock
    monkeypatch.setattr(rp.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(rp, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(rp, "FIGURES_DIR", tmp_path / "figures")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "04_metrics.png").write_bytes(b"paper figure")
    rp.run(profile, out=tmp_path / "run", only=["04_identifiability"], publish=True)
    assert (tmp_path / "results" / profile / "table.csv").read_text() == "a\n1\n"
    # the executed notebook for readers, and what the run cost on which machine
    copy = json.loads((tmp_path / "results" / profile / "notebooks" / "04_identifiability.ipynb")
                      .read_text())
    # for readers: the profile that ran it instead of the smoke note, links valid one level deeper
    assert copy["cells"][0]["source"][0] == "# 04\n"
    assert copy["cells"][0]["source"][1].startswith(f"> **Executed by the `{profile}` profile**")
    assert copy["cells"][0]["source"][2] == "see [the results](../../../docs/results.md)"
    times = pd.read_csv(tmp_path / "results" / profile / "notebook_times.csv")
    assert list(times["notebook"]) == ["04_identifiability"] and list(times["seconds"]) == [4.5]
    assert times["cores"].iloc[0] == os.cpu_count() and times["cpu"].iloc[0]
    published = tmp_path / "figures" / figures_sub / "04_metrics.png"
    assert published.read_bytes() == profile.encode()
    if profile != "paper":  # the README's figure is untouched
        assert (tmp_path / "figures" / "04_metrics.png").read_bytes() == b"paper figure"


# ---------------------------------------------------------------- the CausalCircuit profile
CIRCUIT_NOTEBOOKS = ["03_training", "04_identifiability", "05_counterfactuals"]


def test_circuit_profile_has_the_official_settings_in_every_notebook():
    prof = rp.PROFILES["circuit"]
    assert sorted(prof) == CIRCUIT_NOTEBOOKS  # 01 and 02 show generated data only
    official = {"EPOCHS": 100, "RESOLUTION": 128, "BATCH_SIZE": 100, "K": 32, "N_TRAIN": None,
                "RECIPE": "official", "BETA_MAX": 0.05}
    for name in CIRCUIT_NOTEBOOKS:  # the same run settings, so 04 and 05 reuse 03's run
        assert {k: prof[name][k] for k in official} == official


def test_circuit_parameters_need_a_folder_checked_before_anything_runs(tmp_path):
    with pytest.raises(rp.ParameterError, match=r"DATA_DIR: dataset='circuit' needs data_dir.*"
                                                r"train\*\.npz"):
        check({"DATASET": "circuit"})
    with pytest.raises(rp.ParameterError, match=r"DATA_DIR: .*nowhere does not exist.*test\.npz"):
        check({"DATASETS": ["circuit"], "MODELS": ["icm_vae"],
               "DATA_DIR": str(tmp_path / "nowhere")})
    write_shards(tmp_path / "shards", n_train=(4,), n_test=4)
    ok = {"DATASET": "circuit", "MODEL": "icm_vae", "DATA_DIR": str(tmp_path / "shards"),
          "BETA_MAX": 0.05}
    (cfg,) = check(ok)
    assert (cfg.data_dir, cfg.data_mode, cfg.beta_max) == (ok["DATA_DIR"], "grid", 0.05)
    with pytest.raises(rp.ParameterError, match="CIRCUIT_MODE='random' must be one of"):
        check({**ok, "CIRCUIT_MODE": "random"})
    with pytest.raises(rp.ParameterError, match="BETA_MAX: beta_max must be a finite number"):
        check({**ok, "BETA_MAX": -1})
    assert check({"DATASETS": ["pendulum"], "MODELS": ["icm_vae"], "DATA_DIR": None})


def test_circuit_profile_plans_with_an_absolute_folder(tmp_path, monkeypatch):
    if "DATA_DIR" not in rp.declared_parameters("03_training"):
        pytest.skip("notebooks 03-05 do not declare DATA_DIR yet (docs/circuit.md)")
    write_shards(tmp_path / "shards", n_train=(4,), n_test=4)
    monkeypatch.chdir(tmp_path)
    steps = rp.plan("circuit", {"DATA_DIR": "shards"}, out=tmp_path / "out")
    assert [n for n, _ in steps] == CIRCUIT_NOTEBOOKS
    assert {p["DATA_DIR"] for _, p in steps} == {str(tmp_path / "shards")}
    with pytest.raises(rp.ParameterError, match="DATA_DIR"):
        rp.plan("circuit")


# ---------------------------------------------------------------- what the terminal shows
def test_cell_output_reaches_the_terminal_line_by_line_without_bars_or_kernel_warnings(
        tmp_path, capfd):
    # a real kernel (a few seconds): what cells print is echoed as it comes, prefixed with the
    # notebook's name; a text bar's redraws and the kernel's transport warning are not shown
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("N = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(
                    "import sys\n"
                    "for i in range(50):\n"
                    "    sys.stderr.write(f'\\rbatch {i}/50'); sys.stderr.flush()\n"
                    "sys.stderr.write('\\r' + ' ' * 12 + '\\r')\n"
                    "for i in range(N):\n"
                    "    print(f'[sweep] {i + 1}/{N} pendulum icm_vae seed {i}: done', flush=True)\n"
                    "print('last words', end='')")]
    nbformat.write(nb, tmp_path / "fake.ipynb")
    rp.execute(tmp_path / "fake.ipynb", tmp_path / "out.ipynb", {"N": 2}, "fake")
    out, err = capfd.readouterr()
    assert out.splitlines() == ["  fake | [sweep] 1/2 pendulum icm_vae seed 0: done",
                                "  fake | [sweep] 2/2 pendulum icm_vae seed 1: done",
                                "  fake | last words"]
    assert "batch" not in err and "without encryption" not in err, err
    # the executed notebook keeps its outputs as before
    cell = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[-1]
    assert "[sweep] 2/2" in "".join(o.get("text", "") for o in cell.outputs)


def test_the_main_job_ends_with_the_line_that_opens_the_explorer(monkeypatch, tmp_path, capsys):
    import papermill

    def fake_notebook(src, dst, parameters, **k):  # a notebook that trained ICM-VAE seed 0
        cfg = TrainConfig()
        rd = run_dir_for(parameters["RUN_DIR"], cfg)
        rd.mkdir(parents=True, exist_ok=True)
        (rd / "done.json").write_text(json.dumps({"train": cfg.to_dict()}))

    monkeypatch.setattr(papermill, "execute_notebook", fake_notebook)
    out = rp.run("smoke", out=tmp_path / "run", only=["03_training"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3].startswith(f"[reproduce] run folder: {out}")
    assert lines[-1].strip() == (f"from icm_utils.explore.pretrained import run_explorer; "
                                 f"run_explorer({str(out)!r}, 'pendulum', seed=0)")


# ---------------------------------------------------------------- your own data
def test_own_profile_needs_a_folder_and_plans_with_it_made_absolute(tmp_path, monkeypatch):
    with pytest.raises(rp.ParameterError, match="DATA_DIR: dataset='own' needs data_dir"):
        rp.plan("own")
    export_folder(load_dataset("pendulum", "random", resolution=32, n=20, cache=False),
                  tmp_path / "mine")
    monkeypatch.chdir(tmp_path)
    steps = dict(rp.plan("own", {"DATA_DIR": "mine"}, out=tmp_path / "out"))
    assert list(steps) == ["01_data", "03_training", "04_identifiability", "05_counterfactuals"]
    assert {p["DATA_DIR"] for p in steps.values()} == {str(tmp_path / "mine")}
    assert steps["05_counterfactuals"]["DATASET"] == "own"


def test_the_series_runs_on_a_folder_of_your_own(tmp_path, capfd):
    """01, 03 and 05 executed on a small exported folder: the data shown, both models trained,
    and counterfactuals scored with what the graph tells, without a simulator (04's scores on a
    folder: tests/test_own_data.py)."""
    export_folder(load_dataset("pendulum", "random", resolution=32, n=120, cache=False),
                  tmp_path / "mine")
    small = {"DATA_DIR": str(tmp_path / "mine"), "EPOCHS": 1, "N_TRAIN": 64, "RESOLUTION": 32,
             "N_UNITS": 8, "PROBE_EPOCHS": 1, "N_PROBE": 64}
    out = rp.run("own", out=tmp_path / "run", overrides=small,
                 only=["01_data", "03_training", "05_counterfactuals"])
    res = out / "results"
    summary = pd.read_csv(res / "counterfactual_summary_own.csv")
    assert set(summary["model"]) == {"icm_vae", "causal_vae", "control:do_nothing"}
    assert summary["descendant"].isna().all()  # not known without a simulator: not scored
    assert summary["intervened"].notna().all() and summary["non-descendant"].notna().all()
    assert (out / "figures" / "01_own_data.png").exists()
    # the explorer opens the model trained on the folder, its true panel absent and saying why
    nb = json.loads((out / "05_counterfactuals.ipynb").read_text())
    shown = json.dumps(nb["cells"][-1]["outputs"])
    assert "do(pendulum_angle = " in shown and "deg" in shown
