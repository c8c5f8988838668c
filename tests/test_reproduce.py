from pathlib import Path

import pytest

from icm_utils import reproduce as rp


def test_every_profile_plans_all_notebooks_with_valid_declared_parameters(tmp_path):
    for profile in rp.PROFILES:
        steps = rp.plan(profile, out=tmp_path)
        assert [n for n, _ in steps] == list(rp.NOTEBOOKS)
        for name, params in steps:
            declared = rp.declared_parameters(name)
            assert set(params) <= set(declared)
            assert "FIG_DIR" in declared and "SEED" in declared
            assert params["FIG_DIR"] == str(tmp_path / "figures")


def test_smoke_profile_is_the_notebooks_own_defaults():
    assert all(params == {} for _, params in rp.plan("smoke"))
    d = rp.declared_parameters("03_training")
    assert d["EPOCHS"] == 1 and d["MODEL"] == "icm_vae" and d["RUN_DIR"] is None


def test_shared_runs_have_identical_settings_in_default_profile():
    # 03 trains icm_vae seed 0; 04 and 05 must ask for the same run so it is reused, not retrained
    steps = dict(rp.plan("default"))
    for key in ("EPOCHS", "N_TRAIN", "RESOLUTION"):
        assert steps["03_training"][key] == steps["04_identifiability"][key] \
            == steps["05_counterfactuals"][key]


@pytest.mark.parametrize("overrides,match", [
    ({"EPOCHS": -1}, "EPOCHS must be a positive integer"),
    ({"MODEL": "vae9"}, "MODEL='vae9'"),
    ({"DATASET": "mnist"}, "DATASET='mnist'"),
    ({"SEEDS": [0, -1]}, "SEEDS"),
    ({"MODELS": []}, "MODELS"),
    ({"SCHEDULER": "udp://x"}, "SCHEDULER"),
    ({"N_TRAIN": 0}, "N_TRAIN"),
    ({"EPOCHZ": 3}, "no selected notebook declares"),
])
def test_bad_parameters_stop_before_anything_runs(overrides, match):
    with pytest.raises(rp.ParameterError, match=match):
        rp.plan("default", overrides)


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
    assert rp.main(["--profile", "default", "--set", "EPOCHS=-3", "--out", "/tmp/x"]) == 2
    assert "EPOCHS must be a positive integer" in capsys.readouterr().err
    assert rp.main(["--profile", "smoke", "--inplace", "--set", "EPOCHS=2"]) == 2


def test_set_parsing():
    assert rp._parse_set(["EPOCHS=5", "MODEL=beta_vae", "SEEDS=[0, 1]", "N_TRAIN=None"]) == {
        "EPOCHS": 5, "MODEL": "beta_vae", "SEEDS": [0, 1], "N_TRAIN": None}
    with pytest.raises(rp.ParameterError, match="KEY=VALUE"):
        rp._parse_set(["EPOCHS"])


def test_run_executes_the_plan_into_one_folder(monkeypatch, tmp_path):
    import papermill

    calls = []
    monkeypatch.setattr(papermill, "execute_notebook",
                        lambda src, dst, parameters, **k: calls.append((Path(src).stem, dst, parameters)))
    out = rp.run("default", out=tmp_path / "run", only=["03_training"], overrides={"EPOCHS": 3})
    assert out == tmp_path / "run" and (out / "figures").is_dir()
    (name, dst, params), = calls
    assert name == "03_training" and dst == str(out / "03_training.ipynb")
    assert params["EPOCHS"] == 3 and params["RUN_DIR"] == str(out)


def test_relative_out_folder_is_made_absolute(monkeypatch, tmp_path):
    import papermill

    monkeypatch.chdir(tmp_path)
    seen = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, parameters, **k: seen.append(parameters))
    out = rp.run("default", out=Path("rel"), only=["03_training"])
    assert out == tmp_path / "rel" and seen[0]["RUN_DIR"] == str(tmp_path / "rel")
