"""scripts/compare_variants.py: variant specs are parsed into config fields and hparams, and bad
specs are refused with a message before anything trains."""
import importlib.util

import pytest

from icm_utils.core.paths import PROJECT_ROOT


@pytest.fixture(scope="module")
def cv():
    spec = importlib.util.spec_from_file_location("compare_variants",
                                                  PROJECT_ROOT / "scripts" / "compare_variants.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_parse_variant_splits_config_fields_from_hparams(cv):
    assert cv.parse_variant("conv") == ("conv", {}, {})
    name, cfg, hp = cv.parse_variant("x:beta_max=6,arch=official,posterior_noise=0.5,lr=1e-4")
    assert name == "x"
    assert cfg == {"beta_max": 6, "lr": 1e-4}
    assert hp == {"arch": "official", "posterior_noise": 0.5}
    # a recipe is a TrainConfig field; a recipe field overrides one item of it, as an hparam
    assert cv.parse_variant("y:recipe=elbo,decoder=joint") == ("y", {"recipe": "elbo"},
                                                               {"decoder": "joint"})


@pytest.mark.parametrize("spec, match", [
    ("x:foo=1", "neither TrainConfig fields"),
    ("x:beta_max", "KEY=VALUE"),
    (":beta_max=6", "plain name"),
    ("a/b", "plain name"),
])
def test_parse_variant_refuses_bad_specs(cv, spec, match):
    with pytest.raises(ValueError, match=match):
        cv.parse_variant(spec)


def test_main_reports_bad_values_before_training(cv, tmp_path, capsys):
    assert cv.main(["--variant", "x:beta_max=-1", "--out", str(tmp_path)]) == 2
    assert "beta_max" in capsys.readouterr().err
    assert cv.main(["--variant", "x:arch=mlp", "--out", str(tmp_path)]) == 2
    assert "arch must be one of" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing trained or written
