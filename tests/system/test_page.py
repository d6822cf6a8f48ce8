"""The web page of `seq2seq serve`, in a real headless browser (Debian's chromium driven by
Playwright): type sentences, press Translate, read the translations `seq2seq translate` gives,
choose a sentence and see its attention heatmap; nothing is fetched from anywhere but the server.
Served from a CTranslate2 export, which reports no attention, the page asks for none.

Skipped only where /usr/bin/chromium is absent (README's test command installs it)."""

from __future__ import annotations

import re
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import pytest
from helpers import ServerProcess, cli, translate_jsonl

CHROMIUM = Path("/usr/bin/chromium")


@contextmanager
def opened_page(model_file: Path, sync_api):
    """The page of `seq2seq serve MODEL_FILE` in headless Chromium, once it describes the model."""
    with ServerProcess(model_file) as server, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(server.url + "/")
            sync_api.expect(page.locator("#about")).to_contain_text(model_file.name)
            yield page
        finally:
            browser.close()


def test_the_page_loads_nothing_from_elsewhere():
    page = resources.files("seq2seq.serving").joinpath("static/index.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "an external script, style or font"
    assert "@import" not in page and "url(" not in page


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")
def test_the_page_translates_and_shows_the_attention_of_a_chosen_sentence(
    model_file, capsys, restore_globals, tmp_path
):
    pytest.importorskip("fastapi")
    sync_api = pytest.importorskip("playwright.sync_api")
    lines = ["ba ce di", "fo ga"]
    expected = translate_jsonl(capsys, model_file, lines)
    with ServerProcess(model_file) as server, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            fetched: list[str] = []
            page.on("request", lambda r: fetched.append(r.url))
            page.goto(server.url + "/")
            sync_api.expect(page.locator("#about")).to_contain_text(model_file.name)

            page.fill("#source", "\n".join(lines) + "\n")
            page.click("#translate")
            translations = page.locator("#output li .translation")
            sync_api.expect(translations).to_have_count(2)
            assert translations.all_text_contents() == [e["hypotheses"][0]["text"] for e in expected]

            # the first sentence's heatmap is shown; choose the second
            page.locator("#output li").nth(1).click()
            sync_api.expect(page.locator("#output li").nth(1)).to_have_class("chosen")
            best, source = expected[1]["hypotheses"][0], expected[1]["source_pieces"]
            cells = page.locator("#heatmap rect.cell")
            sync_api.expect(cells).to_have_count(len(best["pieces"]) * len(source))
            assert page.locator("#heatmap .source-piece").all_text_contents() == source
            assert page.locator("#heatmap .target-piece").all_text_contents() == best["pieces"]
            shown = [float(w) for w in cells.evaluate_all("cells => cells.map(c => c.dataset.weight)")]
            wanted = [w for row in best["attention"] for w in row]
            assert shown == pytest.approx(wanted, abs=1e-3)
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)

            # a request the server refuses shows its one-line error on the page
            page.fill("#beam", "99")
            page.click("#translate")
            sync_api.expect(page.locator("#error")).to_contain_text("less than or equal to 16")
        finally:
            browser.close()
    assert fetched and all(url.startswith(server.url) for url in fetched), fetched


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")
def test_the_page_of_an_export_translates_without_asking_for_attention(exported, capsys, restore_globals):
    """A CTranslate2 export reports no attention (/info says so): the page asks for none, shows the
    translations `seq2seq translate` gives, no error and no heatmap."""
    pytest.importorskip("fastapi")
    sync_api = pytest.importorskip("playwright.sync_api")
    lines = ["a b c", "d e f g"]
    code, out, _ = cli(capsys, "translate", exported, *lines)
    assert code == 0
    with opened_page(exported, sync_api) as page:
        page.fill("#source", "\n".join(lines))
        page.click("#translate")
        translations = page.locator("#output li .translation")
        sync_api.expect(translations).to_have_count(2)
        assert translations.all_text_contents() == out.splitlines()
        assert page.locator("#error").text_content() == ""
        assert page.locator("#heatmap-title").is_hidden()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")
def test_the_page_translates_a_document_with_a_glossary(model_file, capsys, restore_globals, tmp_path):
    """Document mode: the text in the box comes back with its paragraphs and spacing, translated as
    `seq2seq translate --document --glossary` translates it."""
    pytest.importorskip("fastapi")
    sync_api = pytest.importorskip("playwright.sync_api")
    document = "ba ce. fo ga!\n\n   hi ja ki.\n"
    (tmp_path / "doc.txt").write_text(document, encoding="utf-8")
    (tmp_path / "g.tsv").write_text("ba\tfo go\n", encoding="utf-8")
    code, expected, err = cli(
        capsys, "translate", model_file, "--document", tmp_path / "doc.txt", "--glossary", tmp_path / "g.tsv"
    )
    assert code == 0, err
    with opened_page(model_file, sync_api) as page:
        page.fill("#source", document)
        page.select_option("#mode", "document")
        page.click("#glossary-box summary")
        page.fill("#glossary", "ba = fo go")
        page.click("#translate")
        shown = page.locator("#document-output")
        sync_api.expect(shown).to_be_visible()
        assert shown.text_content() == expected
        assert page.locator("#output").is_hidden() and page.locator("#error").text_content() == ""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")
def test_the_page_translates_html_as_translate_markup_does(model_file, capsys, restore_globals, tmp_path):
    """HTML mode: the markup in the box comes back translated with its tags, as
    `seq2seq translate --markup html` writes it; malformed markup is the server's one-line error."""
    pytest.importorskip("fastapi")
    sync_api = pytest.importorskip("playwright.sync_api")
    markup = '<p>ba <b>ce</b> da.</p>\n<p>fe &amp; <a href="x y">ge</a></p>\n'
    (tmp_path / "in.html").write_text(markup, encoding="utf-8")
    code, expected, err = cli(
        capsys, "translate", model_file, "--markup", "html", "--document", tmp_path / "in.html"
    )
    assert code == 0, err
    with opened_page(model_file, sync_api) as page:
        page.select_option("#mode", "html")
        page.fill("#source", markup)
        page.click("#translate")
        shown = page.locator("#document-output")
        sync_api.expect(shown).to_be_visible()
        assert shown.text_content() == expected
        page.fill("#source", "<p>ba <b>ce</p>")
        page.click("#translate")
        sync_api.expect(page.locator("#error")).to_contain_text("is not well-formed html")
