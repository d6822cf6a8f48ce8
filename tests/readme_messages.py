"""Every message README.md's troubleshooting section shows, exactly as it shows it, by the name of
the test case that produces it.

test_user_errors.py checks that README lists exactly these and that each name is used by a test;
the tests compare what seq2seq prints with `MESSAGES[name]` (the run directory `runs/toy` replaced
by the test's own where it differs; `pattern` for messages whose update numbers vary from run to
run).
"""

from __future__ import annotations

import re
from pathlib import Path

from helpers import ROOT

README = ROOT / "README.md"

MESSAGES = {
    # stopping and resuming training (test_resume.py, test_distributed.py)
    "resume-log": "resuming runs/toy at epoch 2, batch 5, update 27",
    "interrupted": "interrupted: saved runs/toy/last.pt at update 15; continue with the same command and "
    "--resume",
    "interrupted-at-once": "interrupted at once in update 5; runs/toy/last.pt holds update 3; "
    "continue with the same command and --resume",
    "run-dir-holds-a-run": "seq2seq: error: run directory runs/toy already holds a run; continue it with "
    "--resume, or choose another one with --set run_dir=NEW_DIR",
    "resume-changes-run": "seq2seq: error: cannot resume runs/toy with a config that changes the run: "
    "model.decoder.hidden_size (16 -> 32), tokenizer.vocab_size (60 -> 64); restore those values or start "
    "a new run_dir",
    "resume-changed-data": "seq2seq: error: cannot resume runs/toy: data.train_src (data/toy/train.src) "
    "is not the content the run trained on (its SHA-256 differs); restore that file, start a new run_dir, "
    "or resume with --accept-changed-data to go on with the new content",
    "resume-threads": "seq2seq: error: cannot resume runs/toy with 2 CPU threads: it trained with 1, and the "
    "run would not continue bit-identically with another number; set train.threads=1",
    "resume-processes": "seq2seq: error: this run was saved by 2 process(es); resume it with the same number "
    "(now 1): each one's random generators and share of the data must match",
    "nan": "seq2seq: error: training loss became nan at update 8 (epoch 1); stopped, and last.pt is left as "
    "it was. Lower train.lr, keep train.clip_grad_norm on, or use train.precision: fp32",
    "disk-full": "seq2seq: error: no space left on the disk while saving runs/toy/last.pt; the previous "
    "last.pt is intact; free some space and resume",
    "cannot-save": "seq2seq: error: cannot save runs/toy/last.pt: Input/output error; the previous file is "
    "intact",
    # config (test_user_errors.py)
    "config-not-yaml": "seq2seq: error: config file bad.yaml is not valid YAML at line 2, column 8: "
    "expected ',' or ']', but got ':'",
    "config-missing": "seq2seq: error: config file nope.yaml not found; check the path",
    "unknown-key": "seq2seq: error: unknown config key 'train.epoch'; did you mean 'train.epochs'?",
    "wrong-type": "seq2seq: error: config key 'train.epochs' must be a whole number, not 'ten'",
    "negative-size": "seq2seq: error: config key 'model.encoder.hidden_size' is -8; it must be >= 1",
    "dropout-1": "seq2seq: error: config key 'model.decoder.dropout' is 1.0; it must be in [0.0, 1.0)",
    "beam-0": "seq2seq: error: config key 'search.beam_size' is 0; it must be >= 1",
    "vocab-below-specials": "seq2seq: error: config key 'tokenizer.vocab_size' is 3; it must be >= 16",
    # requires: (test_prerequisites.py)
    "requires-missing": "seq2seq: error: configs/best.yaml requires configs/base.yaml, which is not a file; "
    "give the path of a config (relative to the working directory, like the data paths)",
    # extends: (test_config.py)
    "extends-missing": "seq2seq: error: configs/b.yaml extends base.yaml, which is not a file next to it "
    "(configs/base.yaml); give the path of a config relative to the extending config's folder",
    # data files
    "missing-train-file": "seq2seq: error: data file nope.src not found; check the path in the config",
    "line-counts-differ": "seq2seq: error: train.src has 30 lines but short.tgt has 7; parallel files must "
    "be line-aligned, one sentence pair per line",
    "empty-train-file": "seq2seq: error: data file empty.src is empty; it needs one sentence per line",
    "undecodable-bytes": "seq2seq: error: latin1.src, line 30: bytes that are not UTF-8 (byte 4 of the "
    "line); convert the file to UTF-8, e.g. with iconv",
    "data-file-is-a-directory": "seq2seq: error: data path data is a directory; give a text file with one "
    "sentence per line",
    # run directory
    "run-dir-under-a-file": "seq2seq: error: cannot write to run directory afile/run (Not a directory); "
    "choose a writable run_dir",
    "run-dir-read-only": "seq2seq: error: cannot write to run directory locked/run (Permission denied); "
    "choose a writable run_dir",
    "run-dir-is-a-file": "seq2seq: error: run_dir afile is a file; choose a directory path for run_dir",
    # model files
    "model-missing": "seq2seq: error: model file nope.pt not found; check the path (a run writes best.pt and "
    "last.pt)",
    "model-is-a-directory": "seq2seq: error: runs/toy is a directory; give a model file such as "
    "runs/toy/best.pt",
    "model-truncated": "seq2seq: error: half.pt is not a readable seq2seq model file (truncated, damaged or "
    "another kind of file); use a best.pt or last.pt that a finished save wrote",
    "model-is-another-torch-file": "seq2seq: error: other.pt is a PyTorch file but not a seq2seq model file",
    "model-from-a-newer-version": "seq2seq: error: future.pt has model format version 999, newer than this "
    "seq2seq (0.1.0) reads (up to 2); upgrade seq2seq",
    "model-holds-python-objects": "seq2seq: error: evil.pt holds Python objects that a seq2seq model file "
    "never has; refusing to load it, since loading could run code from it",
    # command line
    "unknown-option-translate": "seq2seq: error: unrecognized arguments: --nbest 2 (see 'seq2seq translate "
    "--help')",
    "n-best-above-beam": "seq2seq: error: --n-best 3 needs a beam at least as large (--beam 3)",
    "test-src-ref-lengths-differ": "seq2seq: error: train.src has 30 lines but valid.tgt has 5; they must be "
    "line-aligned",
    # translating odd input
    "warning-not-utf8": "seq2seq: warning: line 5: bytes that are not UTF-8 were replaced by U+FFFD",
    "warning-long-line": "seq2seq: warning: line 6: longer than the 12 pieces the model was trained on; "
    "translated in 9 parts, joined with spaces",
    # classification and chat (test_classify.py, test_config.py, test_chat.py)
    "classifier-to-translate": (
        "seq2seq: error: runs/classify_toy/best.pt is a classifier (task: classify), not a translation "
        "model; use seq2seq classify runs/classify_toy/best.pt, or seq2seq test runs/classify_toy/best.pt"
        " with --src and --ref"
    ),
    "translation-model-to-classify": (
        "seq2seq: error: runs/toy/best.pt is a translation model (task: translate), not a classifier; use"
        " seq2seq translate runs/toy/best.pt, or train a classifier with task: classify"
    ),
    "unknown-label": (
        "seq2seq: error: ref.labels, line 3: unknown label 'cooking'; the labels the model knows are: "
        "food, music, sport, weather"
    ),
    "label-lines-differ": (
        "seq2seq: error: data/train.txt has 50 lines but short.labels has 7; a label file must be line-"
        "aligned with its text file, one label per line"
    ),
    "no-label": "seq2seq: error: train.labels, line 12: no label; every line needs one label",
    "classify-needs-valid-labels": (
        "seq2seq: error: task: classify needs classify.valid_labels, a file of one label per line, line-"
        "aligned with data.valid_src"
    ),
    "decoder-in-classify": (
        "seq2seq: error: model.decoder is not used by task: classify, which pools the states of the "
        "recurrent model.encoder; remove model.decoder"
    ),
    "train-tgt-in-classify": (
        "seq2seq: error: data.train_tgt is for task: translate; a classifier reads its labels from "
        "classify.train_labels (remove data.train_tgt)"
    ),
    "beam-on-classifier": (
        "seq2seq: error: --beam is for translation models; runs/classify_toy/best.pt is a classifier"
    ),
    "temperature-without-sample": "seq2seq: error: --temperature is a sampling setting; add --sample",
    "sample-and-beam": (
        "seq2seq: error: --sample and --beam/--greedy are two ways to pick a reply; give one of them"
    ),
    # serving (test_server.py)
    "port-in-use": (
        "seq2seq: error: cannot listen on 127.0.0.1:8000: Address already in use; choose another --port "
        "(0: any free one)"
    ),
    "serve-extra-missing": (
        "seq2seq: error: seq2seq serve needs FastAPI and uvicorn: pip install 'seq2seq[serve]'"
    ),
    "beam-above-max-beam": (
        "seq2seq: error: the default beam (20) is above --max-beam 16; raise --max-beam or pass a smaller"
        " --beam"
    ),
}

_SHOWN = ("seq2seq: error: ", "seq2seq: warning: ", "interrupted", "resuming ")


def readme_messages() -> list[str]:
    """The code spans of README's troubleshooting section that are messages seq2seq prints."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Troubleshooting\n", 1)[1].split("\n## ", 1)[0]
    return [span for span in re.findall(r"`([^`\n]+)`", section) if span.startswith(_SHOWN)]


def message(name: str, run: str | Path = "runs/toy") -> str:
    """MESSAGES[name], its run directory `runs/toy` replaced by `run`."""
    return MESSAGES[name].replace("runs/toy", str(run))


def pattern(name: str, run: str | Path = "runs/toy") -> re.Pattern:
    """MESSAGES[name] as a regex in which every number may be another."""
    return re.compile(re.sub(r"\d+", r"\\d+", re.escape(message(name, run))))
