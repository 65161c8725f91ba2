import copy
import re

import pytest

from dabench.config import config_hash, resolve
from dabench.config_files import CONFIG_DIR, apply_overrides, as_spec, load_yaml, merge
from dabench.data.base import DATASETS
from dabench.errors import DabenchError
from dabench.testing import toy_config


def test_base_chain_and_override_merge(tmp_path):
    (tmp_path / "base.yaml").write_text("trainer: {steps: 10, batch_size: 4}\nseed: 1\n")
    (tmp_path / "run.yaml").write_text("_base_: base.yaml\ntrainer: {steps: 20}\n")
    cfg = load_yaml(tmp_path / "run.yaml")
    assert cfg == {"trainer": {"steps": 20, "batch_size": 4}, "seed": 1}


def test_a_spec_that_names_another_component_replaces_the_old_one_instead_of_merging():
    base = {"model": {"backbone": {"name": "mlp", "hidden": [50]}, "bottleneck_dim": 0}}
    assert merge(base, {"model": {"backbone": {"name": "minilm"}}})["model"] == {"backbone": {"name": "minilm"},
                                                                               "bottleneck_dim": 0}
    assert merge(base, {"model": {"backbone": {"name": "mlp", "dropout": 0.1}}})["model"]["backbone"] == {
        "name": "mlp", "hidden": [50], "dropout": 0.1}  # the same component: its options merge


def test_overrides_are_parsed_as_yaml():
    cfg = apply_overrides({"method": "dann", "optim": {"lr": 0.1}},
                          ["trainer.steps=500", "optim.lr=1", "method.trade_off=0.5", "model.backbone.hidden=[4,2]"])
    assert cfg["trainer"]["steps"] == 500 and cfg["optim"]["lr"] == 1
    assert cfg["method"] == {"name": "dann", "trade_off": 0.5}
    assert cfg["model"]["backbone"]["hidden"] == [4, 2]


@pytest.mark.parametrize("text, value", [("1e-3", 1e-3), ("1e6", 1e6), ("1.0e30", 1e30), ("-2E+2", -200.0),
                                         (".5e-1", 0.05), ("1e", "1e"), ("e5", "e5"), ("5", 5), ("0.1", 0.1)])
def test_scientific_notation_is_a_float_in_overrides_and_files(text, value, tmp_path):
    # YAML 1.1 (PyYAML's default) reads 1e-3 and 1e6 as strings; configs follow YAML 1.2 here
    assert apply_overrides({}, [f"optim.lr={text}"])["optim"]["lr"] == value
    (tmp_path / "run.yaml").write_text(f"optim:\n  lr: {text}\n")
    assert load_yaml(tmp_path / "run.yaml")["optim"]["lr"] == value


def test_override_without_equals_is_one_line_error():
    with pytest.raises(DabenchError, match="not key=value"):
        apply_overrides({}, ["trainer.steps"])


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("trainer:\n  steps: [1, 2\n")
    with pytest.raises(DabenchError, match=r"bad.yaml line \d+: malformed YAML"):
        load_yaml(path)


@pytest.mark.parametrize("change, message", [
    ({"trainer": {"stepz": 3}}, "unknown key 'trainer.stepz'.*did you mean 'steps'"),
    ({"optim": {"learning_rate": 3}}, "unknown key 'optim.learning_rate'"),
    ({"method": "dnn"}, "unknown method 'dnn'.*did you mean 'dann'"),
    ({"method": {"name": "dann", "tradeoff": 1}}, "unknown parameter 'tradeoff'"),
    ({"target": "d"}, "dataset 'toy' has no domain 'd'; its domains: a, b, c"),
    ({"model": {"backbone": {"name": "mlp", "width": 3}}}, "backbone 'mlp': unknown parameter 'width'"),
    ({"trainer": {"steps": 0}}, "trainer.steps: Input should be greater than 0"),
    ({"method": {"name": "align", "terms": {"mmdd": 1.0}}}, "unknown alignment term 'mmdd'.*did you mean 'mmd'"),
    ({"colour": "red"}, "unknown key 'colour'; accepted: dataset, source"),
])
def test_bad_configs_fail_before_training_with_one_line(change, message):
    cfg = {"dataset": "toy", "source": "a", "target": "b", "method": "dann"}
    cfg.update(change)
    with pytest.raises(DabenchError, match=message) as err:
        resolve(cfg)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("dataset, source, target, fix", [
    ("office_caltech10_surf", "amazon", "webcam", r"amazon_SURF_L10.mat under data root .*; run `dabench data "
                                                  r"download office_caltech10_surf`"),
    # no direct link: the error points to the import command, in the config check and in the loader
    ("coil20", "coil1", "coil2", r"COIL_1.mat under data root .*; run `dabench data import coil20 PATH` on the "
                                 r"files obtained by hand"),
])
def test_missing_data_says_where_it_looked_and_how_to_get_it(dataset, source, target, fix, tmp_path):
    from dabench.data.base import DATASETS

    cfg = {"dataset": dataset, "source": source, "target": target, "method": "source_only", "data_root": str(tmp_path)}
    with pytest.raises(DabenchError, match=f"missing {dataset}/{fix}"):
        resolve(cfg)
    with pytest.raises(DabenchError, match=f"{dataset}: missing {dataset}/"):
        DATASETS.build(dataset, root=tmp_path).load(source, "train")


@pytest.mark.parametrize("dataset, source, target, fix", [
    ("fsdd", "jackson", "theo", "run `dabench data download fsdd`"),
    ("image_clef", "b", "c", "run `dabench data import image_clef PATH` on the files obtained by hand"),
])
def test_missing_archives_name_the_download_or_the_import(dataset, source, target, fix, tmp_path):
    cfg = {"dataset": dataset, "source": source, "target": target, "method": "source_only", "data_root": str(tmp_path)}
    with pytest.raises(DabenchError, match=rf"missing {dataset}/ \({source} not verified\) under data root .*; "
                                           rf"{re.escape(fix)}"):
        resolve(cfg)


def test_resolved_config_fills_constructor_defaults_and_hash_is_stable():
    cfg = toy_config("dann")
    assert cfg["method"] == {"name": "dann", "trade_off": 1.0, "hidden": 1024, "gamma": 10.0, "warm_start_iters": None,
                             "discriminator": "dropout"}
    assert cfg["optim"]["schedule"] == "inv" and cfg["trainer"]["precision"] == "auto"
    assert config_hash(cfg) == config_hash(toy_config("dann"))
    assert config_hash(cfg) != config_hash(toy_config({"name": "dann", "trade_off": 0.5}))


def test_where_data_lives_and_how_it_is_read_or_logged_do_not_change_the_hash(tmp_path):
    cfg = apply_overrides(toy_config("dann"), ["dataset.workers=4"])  # as image datasets have
    moved = apply_overrides(cfg, [f"data_root={tmp_path}", "dataset.workers=16", "logging.wandb=true"])
    assert config_hash(moved) == config_hash(cfg) and moved["dataset"]["workers"] == 16
    assert config_hash(apply_overrides(cfg, ["dataset.shift=2.0"])) != config_hash(cfg)


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("datasets/*.yaml")), ids=lambda p: p.stem)
def test_shipped_dataset_configs_are_valid(path, tmp_path):
    """Every key and name is accepted; only the data may be absent (the missing-data check comes last).
    mini_digits ships in the package, toy and the spoken digits are generated: they need no data files."""
    cfg = load_yaml(path)
    cfg["data_root"] = str(tmp_path)
    cfg.setdefault("source", "a")  # folder.yaml leaves the pair to the user
    cfg.setdefault("target", "b")
    try:
        resolved = resolve(cfg)
    except DabenchError as err:
        assert "missing" in str(err) or "folder' needs path=" in str(err)
    else:
        assert resolved["dataset"]["name"] in ("mini_digits", "toy", "spoken_digits_synth", "spoken_digits_c")


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_has_a_protocol_config_that_validates(name):
    from dabench.config import family_config
    from dabench.models.backbones import BACKBONES, backbone_spec
    from dabench.schema import RunConfig

    cfg = family_config(name)
    typed = RunConfig.model_validate({"source": "s", "target": "t", **cfg}).model_dump()
    assert as_spec(typed["dataset"])["name"] == name
    spec = as_spec(typed["dataset"])
    DATASETS.check_kwargs(name, {k: v for k, v in spec.items() if k not in ("name",)})
    backbone = backbone_spec(typed["model"]["backbone"])
    BACKBONES.check_kwargs(backbone["name"], {k: v for k, v in backbone.items() if k != "name"})
    if name not in ("folder", "audio_folder"):  # the user's own domain names
        assert cfg.get("source") and cfg.get("target")


def test_a_dataset_without_a_protocol_config_is_an_error_not_a_fallback(monkeypatch, tmp_path):
    import dabench.config as config

    monkeypatch.setattr(config, "CONFIG_DIR", tmp_path)
    with pytest.raises(DabenchError, match=r"dataset 'office31' has no protocol config .*office31.yaml; pass --config"):
        config.family_config("office31")
    with pytest.raises(DabenchError, match=r"unknown dataset 'ofice31'.*did you mean 'office31'"):
        config.family_config("ofice31")


def test_defaults_live_only_in_the_typed_config():
    import inspect

    from dabench.schema import RunConfig, TrainerConfig
    from dabench.trainer import Trainer

    assert all(p.default is inspect.Parameter.empty for p in inspect.signature(Trainer).parameters.values())
    assert set(inspect.signature(Trainer).parameters) == {*TrainerConfig.model_fields, "optim"}
    assert load_yaml(CONFIG_DIR / "defaults.yaml") == {}  # a recipe's base, holding no default of its own
    assert RunConfig.model_fields["trainer"].default_factory().eval_every == 250


def test_keys_added_later_hash_only_when_set_so_stored_cells_keep_their_names():
    cfg = toy_config("dann")
    before_the_keys = copy.deepcopy(cfg)  # a config stored before these keys existed
    for key in ("target_classes", "source_classes", "unknown_threshold"):
        del before_the_keys[key]
    for key in ("bottleneck_batchnorm", "head_width", "init"):
        del before_the_keys["model"][key]
    assert config_hash(before_the_keys) == config_hash(cfg)
    for override in ("model.head_width=8", "model.bottleneck_batchnorm=false", "model.init=mdd", "target_classes=[0]",
                     "source_classes=[0,1]", "unknown_threshold=0.7"):
        assert config_hash(apply_overrides(cfg, [override])) != config_hash(cfg), override


# Written at commit 9cbbed7, which hashed model.bottleneck_batchnorm, head_width and init at their defaults;
# HASHED_UNLESS_DEFAULT dropped them later (to keep older stores' hashes), which renamed these cells.
HASHED_BEFORE_DEFAULTS_WERE_EXEMPT = {"reproduction/digits", "reproduction/options", "shallow_amazon", "shallow_coil20",
                                      "shallow_coil20_pretrained", "shallow_sweep_surf"}


def test_every_committed_result_keeps_its_hash():
    """Stored cells are named by their hash: today's code must hash every committed config as it was hashed
    when it ran, and resolving it again today (new keys filled in with their defaults) must not change that."""
    from pathlib import Path

    from dabench.config import config_hash, resolve
    from dabench.io import read_jsonl

    results = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    stores = sorted(results.glob("**/results.jsonl"))
    assert len(stores) >= 30
    for store in stores:
        if store.parent.relative_to(results).as_posix() in HASHED_BEFORE_DEFAULTS_WERE_EXEMPT:
            continue
        rows = read_jsonl(store)
        for row in rows:
            assert config_hash(row["config"]) == row["config_hash"], (store, row["cell_id"])
        first = next((r for r in rows if r["config"]["model"].get("init_from") is None), None)
        if first is not None:  # a cell that starts from another run needs that run's folder, not committed
            assert config_hash(resolve(first["config"], same_domain=first["source"] == first["target"],
                                       check_data=False)) == first["config_hash"], store


def test_a_resolved_config_is_one_read_only_value_that_carries_its_hash():
    import json
    import pickle

    from dabench.config import ResolvedConfig

    cfg = toy_config("dann", source_classes=[0, 1])
    assert isinstance(cfg, ResolvedConfig) and resolve(cfg) is cfg  # resolved once, where it is made
    plain = copy.deepcopy(cfg)  # a deep copy is a plain dict, to derive another config from
    assert type(plain) is dict and type(plain["trainer"]) is dict and type(plain["source_classes"]) is list
    assert cfg.hash == config_hash(cfg) == config_hash(plain) and json.dumps(cfg) == json.dumps(plain)
    for change in (lambda: cfg.update(seed=1), lambda: cfg["trainer"].__setitem__("steps", 5),
                   lambda: cfg["source_classes"].append(2), lambda: cfg["method"].pop("trade_off"),
                   lambda: cfg.setdefault("colour", "red")):
        with pytest.raises(TypeError, match=r"read-only: derive a changed one with dabench.config_files.merge"):
            change()
    assert cfg == plain
    again = pickle.loads(pickle.dumps(cfg))  # as a worker process receives a cell
    assert isinstance(again, ResolvedConfig) and again == cfg and again.hash == cfg.hash
    with pytest.raises(TypeError, match="read-only"):
        again["optim"]["lr"] = 1.0
    derived = resolve(merge(cfg, {"seed": 1}))
    assert derived["seed"] == 1 and derived.hash != cfg.hash and cfg["seed"] == 0


def test_a_run_reads_the_config_it_is_given_without_resolving_it_again(tmp_path, monkeypatch):
    from dabench import schema
    from dabench.run import train

    cfg = toy_config("dann", trainer={"steps": 2, "eval_every": 2})
    validated = []
    model_validate = schema.RunConfig.model_validate
    monkeypatch.setattr(schema.RunConfig, "model_validate", lambda value: validated.append(value) or
                        model_validate(value))
    result = train(cfg, tmp_path)
    assert validated == [] and result["config_hash"] == cfg.hash and result["config"] == cfg
