"""`seq2seq serve`: the HTTP contract. Answers equal `seq2seq translate`'s for the same model and
settings; every bad request is a 4xx with one line and the server keeps serving; concurrent
requests share decoding calls; a full queue is 503 with Retry-After; SIGTERM drains and exits 0.

Servers run as real processes on free ports of 127.0.0.1 (tests/helpers.py), on the tiny untrained
model, and each test stops the servers it starts."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch
from helpers import ServerProcess, cli, make_pairs, translate_jsonl
from readme_messages import MESSAGES, message

from seq2seq.models.build import build_model
from seq2seq.models.model_file import load_model, save_model
from seq2seq.serving.api import language

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

MAX_LINES, MAX_CHARS = 8, 200
# a long batch-wait window makes merging certain: every request sent within it joins the batch
WAIT_MS = 300


@pytest.fixture(scope="module")
def server(model_file):
    with ServerProcess(
        model_file,
        "--max-lines",
        str(MAX_LINES),
        "--max-chars",
        str(MAX_CHARS),
        "--batch-wait-ms",
        str(WAIT_MS),
    ) as s:
        yield s


# ---------------------------------------------------------------- answers


def test_health_and_info(server, model_file):
    assert server.get("/health") == {"status": "ok"}
    info = server.get("/info")
    assert info["models"] == [model_file.name] and info["version"]
    assert info["architecture"] == "rnn" and info["model"]["decoder"]["attention"] == "bahdanau"
    assert "transformer" not in info["model"]  # settings the architecture does not read
    assert info["vocabulary"]["src"] > 4 and info["vocabulary"]["tgt"] > 4
    assert info["languages"] == {"src": None, "tgt": None}  # train.src and train.tgt name no language
    assert info["search"]["beam_size"] == 2  # the tiny config's
    assert info["limits"]["max_lines"] == MAX_LINES and info["limits"]["max_chars"] == MAX_CHARS


@pytest.mark.parametrize(
    "options, request_fields",
    [
        ((), {}),
        (("--beam", "3", "--length-penalty", "0.6"), {"beam_size": 3, "length_penalty": 0.6}),
        (("--greedy",), {"beam_size": 1}),
    ],
    ids=["model-defaults", "beam3-lp0.6", "greedy"],
)
def test_translations_equal_the_translate_command(
    server, model_file, capsys, restore_globals, options, request_fields
):
    src, _ = make_pairs(5, seed=11)
    lines = [*src, "", "ba ce di fo ga he ji ka le ma ne pi"]  # an empty line; a line cut into parts
    expected = translate_jsonl(capsys, model_file, lines, *options)
    status, answer, _ = server.post({"text": lines, **request_fields})
    assert status == 200
    got = answer["translations"]
    assert [t["text"] for t in got] == [
        e["hypotheses"][0]["text"] if e["hypotheses"] else "" for e in expected
    ]
    for t, e in zip(got, expected):
        assert set(t) == {"text", "score"}
        if e["hypotheses"]:
            assert t["score"] == pytest.approx(e["hypotheses"][0]["score"], abs=1e-3)


def test_n_best_lists_the_hypotheses_of_the_translate_command(server, model_file, capsys, restore_globals):
    lines, _ = make_pairs(3, seed=12, max_words=4)
    expected = translate_jsonl(capsys, model_file, lines, "--beam", "4", "--n-best", "3")
    status, answer, _ = server.post({"text": lines, "beam_size": 4, "n_best": 3})
    assert status == 200
    for t, e in zip(answer["translations"], expected):
        assert [h["text"] for h in t["hypotheses"]] == [h["text"] for h in e["hypotheses"]]
        assert [h["score"] for h in t["hypotheses"]] == pytest.approx(
            [h["score"] for h in e["hypotheses"]], abs=1e-3
        )
        assert t["text"] == t["hypotheses"][0]["text"]


def test_attention_covers_the_pieces_of_both_sides(server, model_file, capsys, restore_globals):
    (expected,) = translate_jsonl(capsys, model_file, ["ba ce di"])
    status, answer, _ = server.post({"text": ["ba ce di"], "attention": True})
    assert status == 200
    attention = answer["translations"][0]["attention"]
    best = expected["hypotheses"][0]
    assert attention["source"] == expected["source_pieces"] and attention["target"] == best["pieces"]
    assert len(attention["weights"]) == len(attention["target"])
    assert all(len(row) == len(attention["source"]) for row in attention["weights"])
    assert all(sum(row) == pytest.approx(1, abs=1e-2) for row in attention["weights"])


@pytest.mark.parametrize(
    "path, code",
    [
        ("data/train.en", "en"),
        ("x/train.de", "de"),
        ("wmt.pt_BR", "pt_BR"),
        ("train.src", None),
        ("a.txt", None),
    ],
)
def test_languages_are_read_from_the_training_files_suffixes(path, code):
    assert language(path) == code


# ---------------------------------------------------------------- dynamic batching


def test_concurrent_requests_share_decoding_calls_and_each_gets_its_own_answer(
    server, model_file, capsys, restore_globals
):
    src, _ = make_pairs(32, seed=13)
    expected = [e["hypotheses"][0]["text"] for e in translate_jsonl(capsys, model_file, src)]
    before = server.get("/stats")
    start = threading.Barrier(32)

    def client(line: str) -> str:
        start.wait(timeout=60)
        status, answer, _ = server.post({"text": [line]})
        assert status == 200
        return answer["translations"][0]["text"]

    with ThreadPoolExecutor(32) as pool:
        got = list(pool.map(client, src))
    after = server.get("/stats")
    assert got == expected
    assert after["requests"] - before["requests"] == 32
    calls = after["calls"] - before["calls"]
    assert calls <= 8, f"32 concurrent requests took {calls} decoding calls: they were not merged"


# ---------------------------------------------------------------- bad requests

TOO_MANY_LINES = json.dumps({"text": ["a"] * (MAX_LINES + 1)}).encode()
TOO_LONG_LINE = json.dumps({"text": ["ab " * MAX_CHARS]}).encode()
HUGE = json.dumps({"text": ["a" * 100] * 2000}).encode()  # over the body limit of these limits

BAD = [
    # (method, path, body, status, words of the one-line error)
    ("POST", "/translate", b"", 400, "empty request body"),
    ("POST", "/translate", b"   \n", 400, "empty request body"),
    ("POST", "/translate", b"{", 400, "not valid JSON"),
    ("POST", "/translate", b'{"text": ["a"]', 400, "not valid JSON"),
    ("POST", "/translate", b'{"text": ["caf\xe9"]}', 400, "not UTF-8 (byte 15)"),
    ("POST", "/translate", b"[1, 2]", 422, "must be a JSON object"),
    ("POST", "/translate", b'"hello"', 422, "must be a JSON object"),
    ("POST", "/translate", b"{}", 422, "field 'text' is missing"),
    ("POST", "/translate", b'{"text": "a b"}', 422, "'text' is \"a b\": input should be a valid list"),
    ("POST", "/translate", b'{"text": ["a", 3]}', 422, "'text[1]' is 3: input should be a valid string"),
    ("POST", "/translate", b'{"text": [null]}', 422, "valid string"),
    ("POST", "/translate", b'{"text": ["a"], "beam": 3}', 422, "unknown field 'beam'; the fields are text,"),
    ("POST", "/translate", b'{"text": ["a"], "beam_size": 0}', 422, "greater than or equal to 1"),
    ("POST", "/translate", b'{"text": ["a"], "beam_size": 999}', 422, "less than or equal to 16"),
    ("POST", "/translate", b'{"text": ["a"], "beam_size": "5"}', 422, "valid integer"),
    ("POST", "/translate", b'{"text": ["a"], "beam_size": 2.5}', 422, "valid integer"),
    ("POST", "/translate", b'{"text": ["a"], "beam_size": true}', 422, "valid integer"),
    ("POST", "/translate", b'{"text": ["a"], "beam_size": 2, "n_best": 3}', 422, "n_best 3 needs a beam"),
    ("POST", "/translate", b'{"text": ["a"], "n_best": 0}', 422, "greater than or equal to 1"),
    ("POST", "/translate", b'{"text": ["a"], "length_penalty": -1}', 422, "greater than or equal to 0"),
    ("POST", "/translate", b'{"text": ["a"], "length_penalty": NaN}', 422, "finite number"),
    ("POST", "/translate", b'{"text": ["a"], "attention": "yes"}', 422, "valid boolean"),
    ("POST", "/translate", b'{"text": ["a\\nb"]}', 422, "text[0] holds a line break"),
    ("POST", "/translate", b'{"text": ["\\ud800"]}', 422, "lone surrogate"),
    (
        "POST",
        "/translate",
        b'{"text": ["a"], "glossary": [["ba", ""]]}',
        422,
        "'glossary' entry 1 has an empty term",
    ),
    ("POST", "/translate", b'{"text": ["a"], "glossary": [["ba"]]}', 422, "'glossary' entry 1 is not a pair"),
    ("POST", "/translate", b'{"text": ["a"], "glossary": "ba"}', 422, "'glossary' is"),
    (
        "POST",
        "/translate",
        b'{"text": ["a"], "document": true, "n_best": 2, "beam_size": 2}',
        422,
        "without 'n_best'",
    ),
    ("POST", "/translate", b'{"text": ["a"], "document": 1}', 422, "valid boolean"),
    ("POST", "/translate", b'{"text": ["a"], "wrapped": true}', 422, "'wrapped' is for plain-text documents"),
    (
        "POST",
        "/translate",
        b'{"text": ["<p>a</b>"], "format": "html"}',
        422,
        "text[0] is not well-formed html: </b>",
    ),
    ("POST", "/translate", b'{"text": ["<x>a"], "format": "xml"}', 422, "<x> is never closed"),
    ("POST", "/translate", b'{"text": ["a"], "format": "pdf"}', 422, "'format' is"),
    ("POST", "/translate", TOO_MANY_LINES, 413, f"{MAX_LINES + 1} lines in one request; at most {MAX_LINES}"),
    ("POST", "/translate", TOO_LONG_LINE, 413, f"at most {MAX_CHARS} (--max-chars)"),
    ("POST", "/translate", HUGE, 413, "request body over"),
    ("GET", "/translate", None, 405, "GET /translate is not allowed"),
    ("POST", "/health", b"{}", 405, "POST /health is not allowed"),
    ("GET", "/nowhere", None, 404, "no such endpoint: GET /nowhere"),
]


@pytest.mark.parametrize(
    "method, path, body, status, words", BAD, ids=[f"{i}-{b[3]}" for i, b in enumerate(BAD)]
)
def test_a_bad_request_is_a_4xx_with_one_line_and_the_server_goes_on(
    server, method, path, body, status, words
):
    url = urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.request(method, path, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == status
    assert list(answer) == ["error"]
    assert words in answer["error"]
    assert "\n" not in answer["error"] and "Traceback" not in answer["error"]
    assert server.get("/health") == {"status": "ok"}


def test_a_huge_chunked_body_is_refused_while_it_arrives(server):
    url = urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        chunks = (b'{"text": [' + b'"aaaa", ' * 5000 for _ in range(10))  # no Content-Length
        conn.request("POST", "/translate", chunks, {"Content-Type": "application/json"}, encode_chunked=True)
        response = conn.getresponse()
        answer = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 413 and "request body over" in answer["error"]


def test_after_the_bad_requests_it_still_translates(server, model_file, capsys, restore_globals):
    (expected,) = translate_jsonl(capsys, model_file, ["ba ce"])
    status, answer, _ = server.post({"text": ["ba ce"]})
    assert status == 200 and answer["translations"][0]["text"] == expected["hypotheses"][0]["text"]


def test_a_glossary_and_a_document_answer_as_the_translate_command(
    server, model_file, capsys, restore_globals, tmp_path
):
    glossary = tmp_path / "g.tsv"
    glossary.write_text("ba\tfo go\nhi ja\tke\n", encoding="utf-8")
    lines = ["ba ce da", "hi ja ki", "fe ge"]
    code, out, err = cli(capsys, "translate", model_file, "--glossary", glossary, *lines)
    assert code == 0, err
    pairs = [["ba", "fo go"], ["hi ja", "ke"]]
    status, answer, _ = server.post({"text": lines, "glossary": pairs})
    assert status == 200 and [t["text"] for t in answer["translations"]] == out.splitlines()

    document = "ba ce. hi ja ki!\n\n  fe ge.\n"
    (tmp_path / "doc.txt").write_text(document, encoding="utf-8")
    code, out, err = cli(
        capsys, "translate", model_file, "--document", tmp_path / "doc.txt", "--glossary", glossary
    )
    assert code == 0, err
    status, answer, _ = server.post({"text": [document, "fe ge."], "document": True, "glossary": pairs})
    assert status == 200 and answer["translations"][0] == {"text": out}
    assert answer["translations"][1]["text"] == out.splitlines()[-1].strip()

    wrapped = "ba ce da fe\nge. hi ja ki\n  fe ge.\n\nba\n"
    (tmp_path / "wrapped.txt").write_text(wrapped, encoding="utf-8")
    code, out, err = cli(capsys, "translate", model_file, "--document", tmp_path / "wrapped.txt", "--wrapped")
    assert code == 0, err
    status, answer, _ = server.post({"text": [wrapped], "document": True, "wrapped": True})
    assert status == 200 and answer["translations"] == [{"text": out}]


def test_markup_answers_as_the_translate_command(server, model_file, capsys, restore_globals, tmp_path):
    page = '<p>ba <b>ce</b> da.</p><p>fe <a href="x">ge</a></p>'
    (tmp_path / "in.html").write_text(page, encoding="utf-8")
    code, out, err = cli(
        capsys, "translate", model_file, "--markup", "html", "--document", tmp_path / "in.html"
    )
    assert code == 0, err
    status, answer, _ = server.post({"text": [page], "format": "html"})
    assert status == 200 and answer["translations"] == [{"text": out}]


# ---------------------------------------------------------------- a full queue, SIGTERM


def test_a_full_queue_answers_503_with_retry_after(model_file):
    # a 2 s batch window keeps the first request waiting: the queue holds its 3 sentences
    with ServerProcess(model_file, "--max-queue", "4", "--batch-wait-ms", "2000") as server:
        first = ThreadPoolExecutor(1).submit(server.post, {"text": ["ba", "ce", "di"]})
        _wait_until(lambda: server.get("/stats")["queued"] == 3)
        status, answer, headers = server.post({"text": ["fo", "ga"]})
        assert status == 503 and headers["retry-after"] == "1"
        assert "busy" in answer["error"] and "\n" not in answer["error"]
        assert first.result(timeout=60)[0] == 200
        status, answer, _ = server.post({"text": ["fo", "ga"]})  # room again
        assert status == 200 and len(answer["translations"]) == 2


def test_sigterm_finishes_the_requests_in_flight_then_exits_0(model_file, capsys, restore_globals):
    lines, _ = make_pairs(6, seed=14)
    expected = [e["hypotheses"][0]["text"] for e in translate_jsonl(capsys, model_file, lines)]
    server = ServerProcess(model_file, "--batch-wait-ms", "1500")
    try:
        in_flight = ThreadPoolExecutor(1).submit(server.post, {"text": lines})
        _wait_until(lambda: server.get("/stats")["queued"] == len(lines))
        server.proc.send_signal(signal.SIGTERM)
        status, answer, _ = in_flight.result(timeout=60)
        assert status == 200
        assert [t["text"] for t in answer["translations"]] == expected
        assert server.proc.wait(timeout=60) == 0
    finally:
        server.stop(signal.SIGKILL)
    url = urlsplit(server.url)
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection(url.hostname, url.port, timeout=10).request("GET", "/health")


def _wait_until(condition, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the server never reached the expected state")
        time.sleep(0.01)


# ---------------------------------------------------------------- user errors at start


def test_a_port_in_use_is_one_line(model_file, capsys, restore_globals):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = cli(capsys, "serve", model_file, "--port", port)
    assert code == 2
    assert err == message("port-in-use").replace("127.0.0.1:8000", f"127.0.0.1:{port}") + "\n"


def test_without_the_serve_extra_the_error_names_it(model_file, capsys, restore_globals, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    code, _, err = cli(capsys, "serve", model_file, "--port", 0)
    assert code == 2
    assert err == message("serve-extra-missing") + "\n"


@pytest.fixture(scope="module")
def other_model(tmp_path_factory, model_file) -> Path:
    """Another untrained model of the tiny config and tokenizer: an ensemble partner."""
    model, cfg, tokenizer = load_model(model_file)
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("other") / "other.pt"
    save_model(path, build_model(cfg.model, len(tokenizer.src), len(tokenizer.tgt)), cfg, tokenizer)
    return path


def test_several_models_serve_as_the_ensemble_translate_makes(
    model_file, other_model, capsys, restore_globals
):
    lines, _ = make_pairs(4, seed=15, max_words=4)
    expected = [e["hypotheses"][0] for e in translate_jsonl(capsys, [model_file, other_model], lines)]
    alone = [e["hypotheses"][0]["text"] for e in translate_jsonl(capsys, model_file, lines)]
    assert [e["text"] for e in expected] != alone  # the partner changes the translations
    with ServerProcess([model_file, other_model]) as server:
        assert server.get("/info")["models"] == [model_file.name, other_model.name]
        status, answer, _ = server.post({"text": lines})
    assert status == 200
    assert [t["text"] for t in answer["translations"]] == [e["text"] for e in expected]
    assert [t["score"] for t in answer["translations"]] == pytest.approx(
        [e["score"] for e in expected], abs=1e-3
    )


@pytest.mark.parametrize(
    "options, words",
    [
        (("--port", "70000"), "argument --port: 70000 is not a port number (0 to 65535)"),
        (("--max-lines", "0"), "argument --max-lines: 0 must be at least 1"),
        (
            ("--beam", "20"),
            MESSAGES["beam-above-max-beam"].removeprefix("seq2seq: error: "),
        ),
    ],
)
def test_bad_options_are_one_line(model_file, capsys, restore_globals, options, words):
    code, _, err = cli(capsys, "serve", model_file, *options)
    assert code == 2 and words in err and err.count("\n") == 1
