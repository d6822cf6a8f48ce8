"""A cache entry is published whole or not at all: an error while building, or a build without its
marker, leaves nothing under the entry's name and no temporary folder; an entry another run
published first is kept as it is; a part without its marker is replaced."""

from __future__ import annotations

import pytest

from seq2seq.data import cache_entry


def test_a_finished_build_becomes_the_entry_and_leaves_no_temporary_folder(tmp_path):
    entry = tmp_path / "cache" / "corpus-abc"
    assert not cache_entry.is_built(entry, "index.npz")
    with cache_entry.building(entry, "index.npz") as tmp:
        assert tmp.parent == entry.parent and tmp != entry
        (tmp / "src.bin").write_bytes(b"12")
        (tmp / "index.npz").write_bytes(b"x")
        assert not entry.exists()  # nothing under the entry's name while it is being built
    assert cache_entry.is_built(entry, "index.npz")
    assert sorted(p.name for p in entry.iterdir()) == ["index.npz", "src.bin"]
    assert [p.name for p in entry.parent.iterdir()] == ["corpus-abc"]


def test_an_error_while_building_leaves_nothing(tmp_path):
    entry = tmp_path / "tokenizer-abc"
    with pytest.raises(KeyboardInterrupt):
        with cache_entry.building(entry, "vocab.json") as tmp:
            (tmp / "src.model").write_bytes(b"half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_build_without_its_marker_is_not_published(tmp_path):
    entry = tmp_path / "nbest-abc"
    with pytest.raises(RuntimeError, match="without its marker done"):
        with cache_entry.building(entry, "done") as tmp:
            (tmp / "src.bin").write_bytes(b"12")
    assert list(tmp_path.iterdir()) == []


def test_an_entry_another_run_published_first_is_kept(tmp_path):
    entry = tmp_path / "corpus-abc"
    with cache_entry.building(entry, "index.npz") as tmp:
        (tmp / "index.npz").write_bytes(b"mine")
        entry.mkdir()  # the other run finishes first
        (entry / "index.npz").write_bytes(b"theirs")
        (entry / "src.bin").write_bytes(b"12")
    assert (entry / "index.npz").read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus-abc"]


def test_a_part_without_its_marker_is_replaced(tmp_path):
    entry = tmp_path / "distilled-abc"
    entry.mkdir()
    (entry / "train.tgt").write_text("half\n")  # an older version killed between its two files
    with cache_entry.building(entry, "train.src") as tmp:
        (tmp / "train.tgt").write_text("b\n")
        (tmp / "train.src").write_text("a\n")
    assert (entry / "train.tgt").read_text() == "b\n" and cache_entry.is_built(entry, "train.src")
