"""config.py: unknown keys, choices, types, ranges and cross-field rules are UserErrors that name
the dotted path and what is allowed; overrides go through the same checks; configs round-trip."""

from __future__ import annotations

import copy

import pytest
import yaml
from helpers import ROOT, cli
from readme_messages import MESSAGES

from seq2seq.config.load import Config, config_from_dict, load_config, save_config, to_dict
from seq2seq.errors import UserError


def write_config(tmp_path, raw: dict, name: str = "config.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def with_key(raw: dict, dotted: str, value) -> dict:
    """A deep copy of raw with the dotted key set (sections created as needed)."""
    out = copy.deepcopy(raw)
    *sections, last = dotted.split(".")
    node = out
    for s in sections:
        node = node.setdefault(s, {})
    node[last] = value
    return out


def error_of(raw: dict) -> str:
    with pytest.raises(UserError) as info:
        config_from_dict(raw)
    return str(info.value)


# ---------------------------------------------------------------- a valid config


def test_tiny_config_loads_with_its_values_and_defaults(tmp_path, config_dict):
    cfg = load_config(write_config(tmp_path, config_dict))
    assert isinstance(cfg, Config)
    assert cfg.model.encoder.hidden_size == 8
    assert cfg.model.decoder.hidden_size == 16
    assert cfg.data.batch_tokens == 200
    assert cfg.train.betas == (0.9, 0.999)  # a default, as a tuple
    with pytest.raises(AttributeError):  # frozen
        cfg.train.lr = 1.0  # type: ignore[misc]


def test_an_int_is_accepted_for_a_float(config_dict):
    cfg = config_from_dict(with_key(config_dict, "train.lr", 1))
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)


# ---------------------------------------------------------------- unknown keys


@pytest.mark.parametrize(
    "bad, suggestion",
    [
        ("model.encoder.hiden_size", "model.encoder.hidden_size"),
        ("model.decoder.atention", "model.decoder.attention"),
        ("trian.lr", "train"),
        ("train.learning_rte", None),
        ("data.batch_token", "data.batch_tokens"),
        ("serach.beam_size", "search"),
    ],
)
def test_unknown_key_names_its_path_and_the_closest_valid_key(config_dict, bad, suggestion):
    message = error_of(with_key(config_dict, bad, 1))
    unknown = bad if suggestion is None or "." in suggestion else bad.split(".")[0]
    assert f"'{unknown}'" in message
    if suggestion is not None:
        assert f"did you mean '{suggestion}'" in message


def test_unknown_key_without_a_close_match_lists_the_valid_keys(config_dict):
    message = error_of(with_key(config_dict, "train.zzzzzz", 1))
    assert "'train.zzzzzz'" in message
    for key in ("epochs", "lr", "label_smoothing"):
        assert key in message


# ---------------------------------------------------------------- choices, types, ranges


@pytest.mark.parametrize(
    "key, value, allowed",
    [
        ("model.decoder.attention", "foo", ("bahdanau", "luong")),
        ("model.decoder.luong_score", "cosine", ("dot", "general", "concat")),
        ("model.encoder.rnn", "transformer", ("gru", "lstm")),
        ("tokenizer.model_type", "word", ("unigram", "bpe")),
        ("train.precision", "fp8", ("fp32", "bf16", "fp16")),
    ],
)
def test_a_bad_choice_names_the_allowed_values(config_dict, key, value, allowed):
    message = error_of(with_key(config_dict, key, value))
    assert key in message and repr(value) in message
    for choice in allowed:
        assert choice in message


@pytest.mark.parametrize(
    "key, value",
    [
        ("model.encoder.hidden_size", "big"),  # string for an int
        ("model.encoder.hidden_size", True),  # bool for an int
        ("model.encoder.hidden_size", 8.5),  # float for an int
        ("model.encoder.bidirectional", 1),  # int for a bool
        ("model.encoder.bidirectional", "yes please"),
        ("train.lr", "fast"),  # string for a float
        ("train.lr", True),  # bool for a float
        ("train.lr", float("nan")),
        ("train.betas", 0.9),  # number for a pair
        ("train.betas", [0.9]),  # wrong length
        ("train.betas", [0.9, "x"]),
        ("run_dir", ""),  # empty string
        ("run_dir", 5),
        ("model", 5),  # a value where a section belongs
    ],
)
def test_a_wrong_type_is_an_error_naming_the_key(config_dict, key, value):
    assert key in error_of(with_key(config_dict, key, value))


@pytest.mark.parametrize(
    "key, value",
    [
        ("model.encoder.hidden_size", -8),
        ("model.encoder.hidden_size", 0),
        ("model.decoder.emb_size", -1),
        ("model.decoder.layers", 0),
        ("model.encoder.dropout", 1.0),
        ("model.decoder.dropout", -0.1),
        ("search.beam_size", 0),
        ("tokenizer.vocab_size", 3),
        ("tokenizer.character_coverage", 1.5),
        ("train.label_smoothing", 1.0),
        ("train.epochs", 0),
        ("train.lr", 0.0),
        ("train.betas", [0.9, 1.0]),
        ("data.batch_tokens", 0),
        ("train.seed", -1),  # numpy's generator, which orders the batches, refuses it
    ],
)
def test_an_out_of_range_value_is_an_error_naming_the_key(config_dict, key, value):
    message = error_of(with_key(config_dict, key, value))
    assert key.replace("betas", "betas[1]") in message


def test_range_edges_that_are_allowed(config_dict):
    raw = with_key(config_dict, "model.encoder.dropout", 0.0)
    raw = with_key(raw, "train.label_smoothing", 0.0)
    raw = with_key(raw, "tokenizer.character_coverage", 1.0)
    raw = with_key(raw, "search.beam_size", 1)
    cfg = config_from_dict(raw)
    assert (cfg.model.encoder.dropout, cfg.search.beam_size) == (0.0, 1)


@pytest.mark.parametrize("missing", ["run_dir", "data", "data.train_src", "data.valid_tgt"])
def test_a_missing_required_key_is_named(config_dict, missing):
    raw = copy.deepcopy(config_dict)
    *sections, last = missing.split(".")
    node = raw
    for s in sections:
        node = node[s]
    del node[last]
    assert f"missing config key '{missing}'" in error_of(raw)


# ---------------------------------------------------------------- overrides


def test_overrides_apply(tmp_path, config_dict):
    path = write_config(tmp_path, config_dict)
    cfg = load_config(
        path,
        [
            "train.lr=0.01",
            "model.encoder.rnn=lstm",
            "search.beam_size=3",
            "train.betas=[0.8, 0.99]",
            "model.encoder.bidirectional=false",
        ],
    )
    assert cfg.train.lr == 0.01
    assert cfg.model.encoder.rnn == "lstm"
    assert cfg.search.beam_size == 3
    assert cfg.train.betas == (0.8, 0.99)
    assert cfg.model.encoder.bidirectional is False


def test_an_override_can_fill_a_section_the_file_omits(tmp_path, config_dict):
    raw = copy.deepcopy(config_dict)
    del raw["search"]
    cfg = load_config(write_config(tmp_path, raw), ["search.length_penalty=0.6"])
    assert cfg.search.length_penalty == 0.6


@pytest.mark.parametrize("override", ["train.lr=1e-3", "train.lr=1E-3"])
def test_an_override_in_exponent_notation_is_a_number(tmp_path, config_dict, override):
    """`--set train.lr=1e-3` is how people write learning rates (YAML 1.1 would read a string)."""
    cfg = load_config(write_config(tmp_path, config_dict), [override])
    assert cfg.train.lr == pytest.approx(1e-3)


def test_exponent_notation_in_the_file_is_a_number(tmp_path, config_dict):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_dict) + "\n", encoding="utf-8")
    text = path.read_text().replace("train:\n", "train:\n  lr: 5e-4\n  min_lr: 1e-7\n", 1)
    path.write_text(text, encoding="utf-8")
    cfg = load_config(path)
    assert cfg.train.lr == pytest.approx(5e-4) and cfg.train.min_lr == pytest.approx(1e-7)


@pytest.mark.parametrize(
    "override, named",
    [
        ("model.encoder.hiden_size=4", "did you mean 'model.encoder.hidden_size'"),
        ("model.decoder.attention=foo", "bahdanau"),
        ("model.encoder.hidden_size=-3", "model.encoder.hidden_size"),
        ("model.encoder.hidden_size=big", "model.encoder.hidden_size"),
        ("search.beam_size=0", "search.beam_size"),
        ("train.lr", "section.key=value"),  # no '='
        ("=3", "section.key=value"),
        ("train.epochs.x=1", "'train.epochs' is a value"),  # epochs is set in the file
        ("train.lr.x=1", "train.lr"),  # lr is not: the override makes it a section
    ],
)
def test_a_bad_override_fails_like_a_bad_file(tmp_path, config_dict, override, named):
    with pytest.raises(UserError, match=None) as info:
        load_config(write_config(tmp_path, config_dict), [override])
    assert named in str(info.value)


# ---------------------------------------------------------------- rules across keys


def test_tied_src_tgt_embeddings_need_a_joint_tokenizer(config_dict):
    raw = with_key(config_dict, "model.tie_src_tgt_embeddings", True)
    raw = with_key(raw, "model.decoder.emb_size", 8)
    config_from_dict(raw)  # joint (the default) and equal embedding sizes: fine
    assert "tokenizer.joint" in error_of(with_key(raw, "tokenizer.joint", False))
    assert "emb_size" in error_of(with_key(raw, "model.decoder.emb_size", 12))


def test_tied_output_embeddings_need_emb_size_equal_to_hidden_size(config_dict):
    raw = with_key(config_dict, "model.tie_tgt_embeddings", True)
    assert "model.decoder.hidden_size" in error_of(raw)
    config_from_dict(with_key(raw, "model.decoder.emb_size", 16))


def test_luong_dot_needs_the_encoder_output_size_to_match_the_decoder(config_dict):
    raw = with_key(config_dict, "model.decoder.attention", "luong")
    raw = with_key(raw, "model.decoder.luong_score", "dot")
    config_from_dict(raw)  # bidirectional 8 + 8 == 16
    message = error_of(with_key(raw, "model.encoder.bidirectional", False))
    assert "dot" in message and "(8)" in message and "(16)" in message
    config_from_dict(
        with_key(
            with_key(raw, "model.encoder.bidirectional", False),
            "model.decoder.luong_score",
            "general",
        )
    )


def test_every_precision_is_allowed_on_every_device(config_dict):
    for device in ("cpu", "cuda", "auto"):
        for precision in ("fp32", "bf16", "fp16"):
            raw = with_key(with_key(config_dict, "train.device", device), "train.precision", precision)
            assert config_from_dict(raw).train.precision == precision


def test_min_lr_above_lr_is_refused(config_dict):
    raw = with_key(with_key(config_dict, "train.lr", 0.001), "train.min_lr", 0.01)
    assert "train.min_lr" in error_of(raw)


# ---------------------------------------------------------------- the file itself


def test_invalid_yaml_reports_line_and_column(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("run_dir: r\ndata: x: y\n", encoding="utf-8")  # ':' at line 2, column 8
    with pytest.raises(UserError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "line 2, column 8" in str(info.value)


@pytest.mark.parametrize("text, named", [("- a\n- b\n", "mapping"), ("", "missing config key 'run_dir'")])
def test_a_file_that_is_not_a_mapping(tmp_path, text, named):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=named):
        load_config(path)


def test_a_missing_config_file_or_a_directory_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(UserError, match="directory"):
        load_config(tmp_path)


# ---------------------------------------------------------------- extends


def test_an_extending_config_is_its_base_with_its_own_keys_laid_over(tmp_path, config_dict):
    """Sections merge key by key (model.decoder keeps every key but the one named), a value or a
    list replaces the base's; the result equals the base with the same keys overridden."""
    base = write_config(tmp_path, config_dict, "base.yaml")
    (tmp_path / "sub").mkdir()
    child = write_config(
        tmp_path / "sub",
        {
            "extends": "../base.yaml",
            "run_dir": "runs/other",
            "train": {"seed": 43, "betas": [0.8, 0.9]},
            "model": {"decoder": {"hidden_size": 24}},
        },
        "child.yaml",
    )
    expected = load_config(
        base,
        ["run_dir=runs/other", "train.seed=43", "train.betas=[0.8, 0.9]", "model.decoder.hidden_size=24"],
    )
    assert load_config(child) == expected != load_config(base)
    assert load_config(child).model.decoder.emb_size == config_dict["model"]["decoder"]["emb_size"]
    grandchild = write_config(tmp_path, {"extends": "sub/child.yaml", "run_dir": "runs/third"}, "third.yaml")
    assert load_config(grandchild) == load_config(child, ["run_dir=runs/third"])
    save_config(load_config(child), tmp_path / "saved.yaml")  # a run's config.yaml holds every key
    assert "extends" not in (tmp_path / "saved.yaml").read_text()
    assert load_config(tmp_path / "saved.yaml") == load_config(child)


def test_the_shipped_second_seed_config_is_the_base_config_with_another_seed(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # extends is relative to the config's folder, not the working directory
    base = load_config(
        ROOT / "configs" / "multi30k_base.yaml", ["run_dir=runs/multi30k_base_seed43", "train.seed=43"]
    )
    assert load_config(ROOT / "configs" / "multi30k_base_seed43.yaml") == base


@pytest.mark.parametrize(
    "files, named",
    [
        (
            {"a.yaml": {"extends": "missing.yaml", "run_dir": "r"}},
            "a.yaml extends missing.yaml, which is not a file",
        ),
        (
            {
                "a.yaml": {"extends": "b.yaml", "run_dir": "r"},
                "b.yaml": {"extends": "a.yaml", "run_dir": "s"},
            },
            "configs that extend each other",
        ),
        (
            {"a.yaml": {"extends": "b.yaml"}, "b.yaml": {"run_dir": "r"}},
            "keeps its run_dir r; give it its own",
        ),
        ({"a.yaml": {"extends": ["b.yaml"], "run_dir": "r"}}, "extends must name one config file"),
    ],
    ids=["missing", "cycle", "same-run-dir", "not-a-name"],
)
def test_a_wrong_extends_is_one_user_error(tmp_path, config_dict, files, named):
    for name, raw in files.items():
        write_config(tmp_path, {**config_dict, **raw} if name == "b.yaml" else raw, name)
    with pytest.raises(UserError, match=named):
        load_config(tmp_path / "a.yaml")


def test_a_missing_extended_config_is_readmes_line_and_trains_nothing(
    tmp_path, capsys, monkeypatch, restore_globals
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    write_config(tmp_path / "configs", {"extends": "base.yaml", "run_dir": "runs/b"}, "b.yaml")
    code, _, err = cli(capsys, "train", "configs/b.yaml")
    assert code == 2 and err == MESSAGES["extends-missing"] + "\n"
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------- round trips


def test_save_config_round_trips_to_an_equal_config(tmp_path, config_dict):
    raw = with_key(config_dict, "train.betas", [0.8, 0.95])
    raw = with_key(raw, "train.min_lr", 1e-7)  # dumped in exponent notation
    raw = with_key(raw, "model.decoder.attention", "luong")
    cfg = config_from_dict(raw)
    save_config(cfg, tmp_path / "saved.yaml")
    assert load_config(tmp_path / "saved.yaml") == cfg
    assert config_from_dict(to_dict(cfg)) == cfg


def test_to_dict_holds_every_key_with_plain_values(config_dict):
    out = to_dict(config_from_dict(config_dict))
    assert out["train"]["betas"] == [0.9, 0.999]
    assert out["model"]["encoder"]["hidden_size"] == 8
    assert yaml.safe_load(yaml.safe_dump(out)) == out


# ---------------------------------------------------------------- the shipped configs


CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def test_there_are_shipped_configs():
    assert CONFIGS


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # loading must not read the data files the config names
    cfg = load_config(path)
    assert isinstance(cfg, Config)
    assert load_config(path, [f"run_dir={tmp_path / 'r'}"]).run_dir == str(tmp_path / "r")


# ---------------------------------------------------------------- task: classify


@pytest.fixture
def classify_dict(tmp_path) -> dict:
    return {
        "task": "classify",
        "run_dir": str(tmp_path / "run"),
        "data": {"train_src": "train.txt", "valid_src": "valid.txt"},
        "classify": {"train_labels": "train.labels", "valid_labels": "valid.labels"},
        "model": {"encoder": {"hidden_size": 8}},
    }


def test_a_classifier_config_loads_with_its_defaults(classify_dict):
    cfg = config_from_dict(classify_dict)
    assert cfg.task == "classify" and cfg.data.train_tgt == ""
    assert (cfg.classify.labels, cfg.classify.heads) == ((), 1)
    with_labels = config_from_dict(with_key(classify_dict, "classify.labels", ["b", "a", "c"]))
    assert with_labels.classify.labels == ("b", "a", "c")  # the order given is the output order
    assert config_from_dict(to_dict(with_labels)) == with_labels
    assert config_from_dict(to_dict(config_from_dict(classify_dict))).task == "classify"


def test_a_translation_config_has_task_translate_by_default(config_dict):
    cfg = config_from_dict(config_dict)
    assert cfg.task == "translate" and cfg.classify.labels == ()


@pytest.mark.parametrize(
    "key, value, message",
    [
        (
            "classify.valid_labels",
            None,
            MESSAGES["classify-needs-valid-labels"].removeprefix("seq2seq: error: "),
        ),
        (
            "data.train_tgt",
            "train.tgt",
            MESSAGES["train-tgt-in-classify"].removeprefix("seq2seq: error: "),
        ),
        (
            "model.decoder.hidden_size",
            64,
            MESSAGES["decoder-in-classify"].removeprefix("seq2seq: error: "),
        ),
        (
            "model.architecture",
            "transformer",
            "model.architecture is not used by task: classify, which pools the states of the recurrent "
            "model.encoder; remove model.architecture",
        ),
        ("search.beam_size", 3, "search is not used by task: classify"),
        ("tokenizer.sampling_alpha", 0.1, "tokenizer.sampling_alpha is not used by task: classify"),
        ("train.rdrop_alpha", 1.0, "train.rdrop_alpha is not used by task: classify"),
        ("train.teachers", "teacher.pt", "train.teachers is not used by task: classify"),
        ("classify.labels", ["a", "b", "a"], "classify.labels names a more than once; list each label once"),
        ("classify.labels", ["a"], "classify.labels has one label; a classifier needs at least two"),
        ("classify.labels", "a b", "config key 'classify.labels' must be a list, e.g. [a, b]"),
        ("classify.labels", ["a", 3], "config key 'classify.labels[1]' must be a non-empty string, not 3"),
        ("classify.heads", 0, "config key 'classify.heads' is 0; it must be >= 1"),
    ],
)
def test_classifier_config_mistakes_are_one_line(classify_dict, key, value, message):
    raw = with_key(classify_dict, key, value)
    if value is None:
        *sections, last = key.split(".")
        del raw[sections[0]][last]
    assert message in error_of(raw)


def test_a_classify_section_in_a_translation_config_is_refused(config_dict):
    raw = with_key(config_dict, "classify.heads", 2)
    assert error_of(raw) == "the classify section is for task: classify; set task: classify or remove it"
    assert "allowed values: translate, classify" in error_of(with_key(config_dict, "task", "chat"))


def test_distill_from_takes_one_model_file_or_a_list_of_them(config_dict):
    def teachers(value):
        return config_from_dict(with_key(config_dict, "data.distill_from", value)).data.distill_from

    assert teachers("a.pt") == ("a.pt",)  # as the key was before it took a list
    assert teachers(["a.pt", "b.pt"]) == ("a.pt", "b.pt")
    assert teachers("") == teachers([]) == () == config_from_dict(config_dict).data.distill_from
    assert error_of(with_key(config_dict, "data.distill_from", 3)) == (
        "config key 'data.distill_from[0]' must be a non-empty string, not 3"
    )
    saved = config_from_dict(with_key(config_dict, "data.distill_from", "a.pt"))
    assert config_from_dict(to_dict(saved)) == saved  # config.yaml and model files read back the same


def test_every_model_a_shipped_config_starts_from_is_made_by_a_run_it_requires(monkeypatch):
    """`seq2seq train configs/multi30k_best.yaml` is the whole recipe: every runs/.../best.pt a
    shipped config reads (train.init_from, data.distill_from, data.back_translate_from,
    train.average_with, train.teachers) is the model of a config it requires, and the requires
    resolve (no cycle, no shared run_dir)."""
    from seq2seq.training.prerequisites import required_runs

    monkeypatch.chdir(ROOT)
    for path in CONFIGS:
        cfg = load_config(path)
        made = {f"{c.run_dir}/best.pt" for _, c in required_runs(path.relative_to(ROOT), cfg)}
        reads = {cfg.train.init_from, *cfg.data.distill_from, *cfg.data.back_translate_from}
        reads |= {*cfg.train.average_with, *cfg.train.teachers}
        assert {r for r in reads - {""} if r.startswith("runs/")} <= made, path.name
    best = "configs/multi30k_best.yaml"
    order = [p for p, _ in required_runs(best, load_config(best))]
    assert order == [
        "configs/multi30k_base.yaml",
        "configs/multi30k_base_seed43.yaml",
        "configs/multi30k_de_en.yaml",
        "configs/multi30k_ft.yaml",
        "configs/multi30k_ft_seed43.yaml",
        "configs/multi30k_round2_from_base.yaml",
        "configs/multi30k_soup.yaml",
        "configs/multi30k_base_taught.yaml",
    ]
