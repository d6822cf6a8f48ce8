"""curves.py: curves.png shows the validation rows, TensorBoard events hold the logged values,
`plot_runs` overlays runs, and a missing matplotlib only costs the picture."""

from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path

import pytest
from helpers import PNG, tiny_config_dict

from seq2seq.cli.main import main
from seq2seq.cli.train import train
from seq2seq.config.load import config_from_dict
from seq2seq.errors import UserError
from seq2seq.report.plots import curves_figure, plot_runs, runs_figure
from seq2seq.training.curves import TrainingPictures


def rows(bleus: list[float]) -> list[dict]:
    """Validation rows as the trainer makes them (and validations.tsv holds them)."""
    return [
        {
            "epoch": i + 1,
            "step": 10 * (i + 1),
            "train_loss": 3.0 - 0.5 * i,
            "valid_loss": 3.2 - 0.4 * i,
            "valid_ppl": 1.0,
            "bleu": b,
            "chrf": 2 * b,
            "lr": 0.001,
            "train_tokens": 100,
            "train_seconds": 1.0,
            "elapsed_seconds": 2.0 * (i + 1),
        }
        for i, b in enumerate(bleus)
    ]


def write_table(run_dir, table: list[dict]) -> None:
    run_dir.mkdir(parents=True)
    columns = list(table[0])  # as RunDir.write_validations writes them: the rows' keys
    lines = ["\t".join(columns)]
    lines += ["\t".join(str(r[c]) for c in columns) for r in table]
    (run_dir / "validations.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_the_curves_are_the_validation_rows():
    pytest.importorskip("matplotlib")
    table = rows([5.0, 9.5, 12.25])
    scores, losses = curves_figure(table).axes
    bleu, chrf = scores.get_lines()
    assert list(bleu.get_xdata()) == [1, 2, 3] and list(bleu.get_ydata()) == [5.0, 9.5, 12.25]
    assert list(chrf.get_ydata()) == [10.0, 19.0, 24.5]
    train, valid = losses.get_lines()
    assert list(train.get_ydata()) == [r["train_loss"] for r in table]
    assert list(valid.get_ydata()) == [r["valid_loss"] for r in table]
    assert [t.get_text() for t in scores.get_legend().get_texts()] == ["BLEU", "chrF"]


def test_each_validation_redraws_curves_png(tmp_path):
    pytest.importorskip("matplotlib")
    pictures = TrainingPictures(tmp_path, tensorboard=False)
    table = rows([1.0, 2.0])
    pictures.validation(table[:1])
    first = (tmp_path / "curves.png").read_bytes()
    pictures.validation(table)
    second = (tmp_path / "curves.png").read_bytes()
    assert first.startswith(PNG) and second.startswith(PNG) and first != second
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png"]  # no temporary file left


def test_without_matplotlib_training_goes_on_and_says_once_how_to_get_the_picture(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import matplotlib.figure fails
    pictures = TrainingPictures(tmp_path, tensorboard=False)
    with caplog.at_level(logging.INFO, logger="seq2seq"):
        logger = logging.getLogger("seq2seq")
        monkeypatch.setattr(logger, "propagate", True)
        for n in (1, 2, 3):
            pictures.validation(rows([1.0] * n))
    said = [r.getMessage() for r in caplog.records if "curves.png" in r.getMessage()]
    assert len(said) == 1 and "pip install 'seq2seq[plot]'" in said[0]
    assert not (tmp_path / "curves.png").exists()


def test_tensorboard_events_hold_the_updates_and_validations(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    pictures = TrainingPictures(tmp_path, tensorboard=True)
    for step in (5, 10):
        pictures.update(step, loss=4.0 / step, lr=0.001 * step, tokens_per_second=100.0 * step)
    table = rows([3.5])
    pictures.validation(table, ["BLEU|nrefs:1 = 3.5", "example 1\n  source:     a | b"])
    pictures.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"tensors": 0}).Reload()
    scalars = {
        tag: [(e.step, round(e.value, 6)) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }
    assert scalars["train/loss"] == [(5, 0.8), (10, 0.4)]
    assert scalars["train/lr"] == [(5, 0.005), (10, 0.01)]
    assert scalars["train/tokens_per_s"] == [(5, 500.0), (10, 1000.0)]
    assert scalars["valid/bleu"] == [(10, 3.5)] and scalars["valid/chrf"] == [(10, 7.0)]
    assert scalars["valid/loss"] == [(10, 3.2)]
    (text,) = events.Tensors("valid/examples/text_summary")
    assert text.tensor_proto.string_val[0].decode() == (
        "    BLEU|nrefs:1 = 3.5\n    example 1\n      source:     a | b"
    )


def test_tensorboard_asked_for_but_missing_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(
        UserError, match=r"pip install 'seq2seq\[tensorboard\]', or set train.tensorboard: false"
    ):
        TrainingPictures(tmp_path, tensorboard=True)
    TrainingPictures(tmp_path, tensorboard=True, active=False)  # a process that writes nothing: no need


def test_a_training_run_draws_its_curves_and_writes_its_events(tmp_path, corpus, restore_globals):
    pytest.importorskip("matplotlib")
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    raw = tiny_config_dict(tmp_path, corpus)
    # one thread: two stall on each other at every operation when other work holds the cores
    raw["train"].update(epochs=2, log_every=3, tensorboard=True, examples=1, threads=1)
    cfg = config_from_dict(raw)
    train(cfg)
    run = Path(cfg.run_dir)
    assert (run / "curves.png").read_bytes().startswith(PNG)
    with open(run / "validations.tsv", encoding="utf-8") as f:
        table = list(csv.DictReader(f, delimiter="\t"))
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"tensors": 0}).Reload()
    for tag, column in (("valid/bleu", "bleu"), ("valid/chrf", "chrf"), ("valid/loss", "valid_loss")):
        got = [(e.step, e.value) for e in events.Scalars(tag)]
        assert got == [(int(r["step"]), pytest.approx(float(r[column]), abs=1e-4)) for r in table]
    steps = [e.step for e in events.Scalars("train/loss")]
    assert steps == list(range(3, int(table[-1]["step"]) + 1, 3))
    assert {e.step for e in events.Scalars("train/lr")} == set(steps)
    assert all(e.value > 0 for e in events.Scalars("train/tokens_per_s"))
    texts = events.Tensors("valid/examples/text_summary")
    assert len(texts) == 2 and "hypothesis:" in texts[0].tensor_proto.string_val[0].decode()


def test_plot_overlays_the_bleu_of_several_runs(tmp_path):
    pytest.importorskip("matplotlib")
    write_table(tmp_path / "a", rows([1.0, 4.0, 6.0]))
    write_table(tmp_path / "b", rows([2.0, 3.0]))
    plot_runs([tmp_path / "a", tmp_path / "b"], tmp_path / "cmp.png")
    assert (tmp_path / "cmp.png").read_bytes().startswith(PNG)
    (ax,) = runs_figure({"a": rows([1.0, 4.0, 6.0]), "b": rows([2.0, 3.0])}).axes
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [[1.0, 4.0, 6.0], [2.0, 3.0]]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda d: None, "is not a directory"),
        (lambda d: d.mkdir(), "has no validations.tsv yet"),
        (lambda d: (d.mkdir(), (d / "validations.tsv").write_text("epoch\tstep\n")), "no validation rows"),
    ],
    ids=["missing", "no-table", "empty-table"],
)
def test_plot_refuses_what_is_not_a_run(tmp_path, make, words):
    pytest.importorskip("matplotlib")
    make(tmp_path / "run")
    with pytest.raises(UserError, match=words):
        plot_runs([tmp_path / "run"], tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()


def test_the_plot_command_writes_the_picture_or_says_what_is_wrong(tmp_path, capsys, restore_globals):
    pytest.importorskip("matplotlib")
    write_table(tmp_path / "a", rows([1.0, 2.0]))
    with pytest.raises(SystemExit) as exit_info:
        main(["plot", str(tmp_path / "a"), "-o", str(tmp_path / "a.png")])
    assert exit_info.value.code == 0
    assert (tmp_path / "a.png").read_bytes().startswith(PNG)
    assert capsys.readouterr().err == f"wrote {tmp_path / 'a.png'}\n"
    with pytest.raises(SystemExit) as exit_info:
        main(["plot", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(tmp_path / "ab.png")])
    _, err = capsys.readouterr()
    assert exit_info.value.code == 2
    assert (
        err == f"seq2seq: error: {tmp_path / 'b'} is not a directory; give run directories of seq2seq train\n"
    )


def test_plot_without_matplotlib_names_the_extra(tmp_path, monkeypatch):
    write_table(tmp_path / "a", rows([1.0]))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UserError, match=r"^seq2seq plot needs matplotlib: pip install 'seq2seq\[plot\]'$"):
        plot_runs([tmp_path / "a"], tmp_path / "a.png")
