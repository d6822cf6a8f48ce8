"""`seq2seq data NAME`: every file lands under its final name only with the official digest, from a
download or a local copy; a missing file, a wrong digest or an unreachable host is one line, exit 2,
and nothing half-written (nor anything the user had) is left changed."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import pytest
from helpers import ROOT

from seq2seq.cli.main import main
from seq2seq.config.load import load_config
from seq2seq.data import datasets
from seq2seq.data.datasets import DataFile, Dataset

TEXTS = {"train.en": "A dog runs.\nTwo men sit.\n", "train.de": "Ein Hund rennt.\nZwei Männer sitzen.\n"}


def _dataset(base_url: str = "http://127.0.0.1:9/tiny", texts: dict[str, str] = TEXTS) -> Dataset:
    files = tuple(
        DataFile(name, f"{base_url}/{name}.gz", hashlib.sha256(text.encode()).hexdigest(), gzipped=True)
        for name, text in texts.items()
    )
    return Dataset("tiny", "a tiny corpus", files, terms="none")


@pytest.fixture
def tiny(monkeypatch, restore_globals):
    """Make `seq2seq data tiny` fetch `_dataset()`; returns a setter for another catalogue entry."""

    def use(dataset: Dataset) -> Dataset:
        monkeypatch.setitem(datasets.DATASETS, "tiny", dataset)
        return dataset

    use(_dataset())
    return use


def _run(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_:
        main(["data", "tiny", *args])
    return exit_.value.code


def _mirror(folder: Path, gz: bool, texts: dict[str, str] = TEXTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(text.encode()))
        else:
            (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("gz", [False, True])
def test_a_local_copy_is_copied_and_checked(tiny, tmp_path, capsys, gz):
    source = _mirror(tmp_path / "mirror", gz)
    out = tmp_path / "out"
    assert _run("--out", str(out), "--from", str(source)) == 0
    assert {p.name: p.read_text(encoding="utf-8") for p in out.iterdir()} == TEXTS
    # again: the files are there with the right digest and are kept as they are
    before = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    assert _run("--out", str(out), "--from", str(source)) == 0
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert "already there, digest checked" in capsys.readouterr().err


def test_the_default_folder_is_data_slash_name(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = _mirror(tmp_path / "mirror", gz=False)
    assert _run("--from", str(source)) == 0
    assert sorted(p.name for p in (tmp_path / "data" / "tiny").iterdir()) == sorted(TEXTS)


def _one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and err[-1].startswith("seq2seq: error: ")
    assert "Traceback" not in "\n".join(err)
    return err[-1]


def test_a_wrong_digest_is_refused_and_leaves_nothing(tiny, tmp_path, capsys):
    source = _mirror(tmp_path / "mirror", gz=False, texts=TEXTS | {"train.de": "Ein Hund.\n"})
    out = tmp_path / "out"
    assert _run("--out", str(out), "--from", str(source)) == 2
    line = _one_error(capsys)
    assert "train.de: SHA-256" in line and "not the official file's" in line
    # the first file was good and is kept; the bad one is neither there nor half there
    assert sorted(p.name for p in out.iterdir()) == ["train.en"]


def test_a_missing_file_is_named(tiny, tmp_path, capsys):
    source = _mirror(tmp_path / "mirror", gz=False, texts={"train.en": TEXTS["train.en"]})
    assert _run("--out", str(tmp_path / "out"), "--from", str(source)) == 2
    assert "train.de is missing from" in _one_error(capsys)


def test_a_different_file_already_there_is_never_overwritten(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "train.en").write_text("my own edits\n", encoding="utf-8")
    source = _mirror(tmp_path / "mirror", gz=False)
    assert _run("--out", str(out), "--from", str(source)) == 2
    assert "exists and is not the official train.en" in _one_error(capsys)
    assert (out / "train.en").read_text(encoding="utf-8") == "my own edits\n"
    assert not (out / "train.de").exists()


def test_an_unreachable_host_is_one_line_and_leaves_no_folder(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    tiny(_dataset(base_url="http://127.0.0.1:1/nothing"))  # nothing listens on port 1
    assert _run("--out", str(out)) == 2
    line = _one_error(capsys)
    assert "cannot download train.en from 127.0.0.1:1" in line and "--from DIR" in line
    assert not out.exists()


@pytest.fixture
def server(tmp_path):
    """An HTTP server on the loopback address serving tmp_path/www; stopped after the test."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_a_download_is_unpacked_and_checked(tiny, tmp_path, server):
    root, url = server
    _mirror(root / "tiny", gz=True)
    tiny(_dataset(base_url=f"{url}/tiny"))
    out = tmp_path / "out"
    assert _run("--out", str(out)) == 0
    assert {p.name: p.read_text(encoding="utf-8") for p in out.iterdir()} == TEXTS


def test_a_download_missing_on_the_server_is_one_line(tiny, tmp_path, server, capsys):
    root, url = server
    _mirror(root / "tiny", gz=True, texts={"train.en": TEXTS["train.en"]})
    tiny(_dataset(base_url=f"{url}/tiny"))
    out = tmp_path / "out"
    assert _run("--out", str(out)) == 2
    assert "cannot download train.de" in _one_error(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["train.en"]


def test_the_multi30k_catalogue_names_what_the_configs_read():
    names = {f.name for f in datasets.MULTI30K.files}
    configs = ROOT / "configs"
    for config in configs.glob("multi30k_*.yaml"):
        assert "../shared" not in config.read_text(encoding="utf-8"), config
        data = load_config(config).data  # with what it extends
        read = {data.train_src, data.train_tgt, data.valid_src, data.valid_tgt}
        assert read == {
            f"data/multi30k/{split}.{lang}" for split in ("train", "val") for lang in ("en", "de")
        }, config
        assert {Path(path).name for path in read} <= names
    assert {"test_2016_flickr.en", "test_2016_flickr.de", "test_2016_flickr.lc.norm.tok.de"} <= names
    assert all(len(f.sha256) == 64 and f.url.startswith("https://") for f in datasets.MULTI30K.files)
