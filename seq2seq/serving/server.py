"""`seq2seq serve`: translate over HTTP (FastAPI + uvicorn), with a web page at `/`.

    GET  /            the web page (seq2seq/serving/static/index.html; no external scripts or fonts)
    GET  /health      {"status": "ok"}
    GET  /info        languages, vocabulary sizes, architecture, search defaults, limits, version
    GET  /stats       requests, sentences and decoding calls so far, queue, resident memory
    POST /translate   {"text": ["sentence", ...], "beam_size"?, "n_best"?, "length_penalty"?,
                      "attention"?} -> {"translations": [{"text", "score"[, "hypotheses"]
                      [, "attention"]}, ...]}, one item per input, in order

Translations come from the same translator that `seq2seq translate` uses (a model file's, or a
CTranslate2 export's: the same face), through a Batcher that merges concurrent requests into shared
decoding calls. What a translator cannot give (an export reports no attention) it says, and /info
passes on; a request for it is refused like any bad request. Every bad request is a 4xx with one line,
{"error": "..."}; a full queue is 503 with Retry-After. SIGTERM (or Ctrl-C) stops accepting
connections, finishes the requests in flight, and exits. FastAPI, uvicorn and pydantic are the
`serve` extra: they are imported inside the functions that need them.
"""

# no `from __future__ import annotations` here: FastAPI reads the route functions' annotations
# (`request: Request`) at run time, and Request is imported inside create_app
import asyncio
import dataclasses
import logging
import os
import signal
import socket
from collections.abc import Callable, Hashable
from contextlib import asynccontextmanager
from importlib import resources

from .. import __version__
from ..errors import UserError
from ..inference.document import rebuild, split_text
from ..inference.translator import Translator
from ..runtime.memory import RELEASE_EVERY, release_free_memory
from .api import Limits, Refused, decoded_item, info, parse_request
from .batcher import Batcher, Closed, QueueFull

log = logging.getLogger("seq2seq")

__all__ = ["Limits", "create_app", "serve"]


def create_app(translator: Translator, model_names: list[str], limits: Limits):
    """The FastAPI application; its lifespan starts the batcher and drains it at shutdown."""
    from fastapi import FastAPI, Request
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.exceptions import HTTPException

    batcher: Batcher | None = None
    page = resources.files("seq2seq.serving").joinpath("static/index.html").read_text(encoding="utf-8")
    about = info(translator, model_names, limits)

    @asynccontextmanager
    async def lifespan(app):
        nonlocal batcher
        batcher = Batcher(_work(translator), limits.batch_wait_ms / 1000, limits.max_queue)
        yield
        await asyncio.to_thread(batcher.close)

    app = FastAPI(title="seq2seq", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.exception_handler(Refused)
    async def refused(request: Request, e: Refused):
        return JSONResponse({"error": e.message}, status_code=e.status, headers=e.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException):
        where = f"{request.method} {request.url.path}"
        message = {
            404: f"no such endpoint: {where}; use GET /, /health, /info, /stats or POST /translate",
            405: f"{where} is not allowed; use POST /translate and GET for the others",
        }.get(e.status_code, str(e.detail))
        return JSONResponse({"error": message}, status_code=e.status_code, headers=e.headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, e: Exception):
        log.exception(f"{request.method} {request.url.path} failed")
        return JSONResponse({"error": f"internal error ({type(e).__name__}); see the server's log"}, 500)

    @app.get("/", response_class=HTMLResponse)
    async def index():
        return page

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/info")
    async def get_info():
        return about

    @app.get("/stats")
    async def stats():
        return dataclasses.asdict(batcher.stats) | {"rss_bytes": _resident_bytes()}

    @app.post("/translate")
    async def translate(request: Request):
        parsed = parse_request(await _body(request, limits.max_body), translator, limits)
        if parsed.format != "text":  # markup: aligned by attention, decoded beside the batcher
            return {"translations": await asyncio.to_thread(_markup, translator, parsed)}
        lines, documents = parsed.texts, []
        if parsed.document:  # each text's sentences, all decoded in the shared batches
            lang = translator.config.data.src_lang
            documents = [split_text(t, lang, parsed.wrapped) for t in parsed.texts]
            lines = [s for d in documents for line in d for s in line.sentences]
        try:
            future = batcher.submit(parsed.key, lines)
        except QueueFull as e:
            raise Refused(503, f"the server is busy ({e}); retry shortly", {"Retry-After": "1"}) from None
        except Closed as e:
            raise Refused(503, f"{e}; retry on another server", {"Retry-After": "1"}) from None
        answers = await asyncio.wrap_future(future)
        if parsed.document:
            texts = iter(a["text"] for a in answers)
            answers = [{"text": rebuild(d, texts)} for d in documents]
        return {"translations": answers}

    return app


def _work(translator: Translator) -> Callable[[Hashable, list[str]], list[dict]]:
    """Decode one merged batch with the request's settings, as `seq2seq translate` would."""
    calls = 0

    def work(key: Hashable, lines: list[str]) -> list[dict]:
        nonlocal calls
        _, _, n_best, attention, _ = key
        translations = _settings(translator, key).translate(lines, n_best, with_attention=attention)
        calls += 1
        if calls % RELEASE_EVERY == 0:  # batches of every shape fragment the heap, as in training
            release_free_memory()
        return [decoded_item(t, n_best, attention, translator.tokenizer) for t in translations]

    return work


def _markup(translator: Translator, parsed) -> list[dict]:
    from ..inference.markup import translate_markup

    settings, xml = _settings(translator, parsed.key), parsed.format == "xml"
    return [
        {"text": translate_markup(t, settings, translator.config.data.src_lang, xml)} for t in parsed.texts
    ]


def _settings(translator: Translator, key: Hashable) -> Translator:
    """The translator with a request's search settings and glossary (api.py gives a glossary only
    to an engine that obeys glossaries)."""
    beam_size, length_penalty, _, _, glossary = key
    search = dataclasses.replace(translator.search, beam_size=beam_size, length_penalty=length_penalty)
    settings = dataclasses.replace(translator, search=search)
    return settings if glossary is None else dataclasses.replace(settings, glossary=glossary)


async def _body(request, limit: int) -> bytes:
    """The request body, refused as soon as it is known to exceed `limit` bytes."""
    too_large = f"request body over {limit:,} bytes; send fewer or shorter lines (--max-lines, --max-chars)"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, too_large)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refused(413, too_large)
    return bytes(body)


def _resident_bytes() -> int | None:
    """This process's resident memory now (Linux); None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


# ---------------------------------------------------------------- running the server


def serve(
    translator: Translator,
    model_names: list[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    limits: Limits | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve until SIGTERM or Ctrl-C, then finish the requests in flight and return. `announce`
    gets one line, `listening on http://HOST:PORT`, once requests are answered (port 0: any free
    port, and the line says which)."""
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise UserError("seq2seq serve needs FastAPI and uvicorn: pip install 'seq2seq[serve]'") from None
    app = create_app(translator, model_names, limits or Limits())
    sock = _listen(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    # uvicorn catches SIGTERM/SIGINT, drains, then raises the signal again under the handler that
    # was there before it: a SIGTERM that does nothing lets a drained server exit 0 (Ctrl-C still
    # ends as KeyboardInterrupt, exit code 130, as in the other commands)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        asyncio.run(_run(server, sock, announce))
    finally:
        signal.signal(signal.SIGTERM, previous)


async def _run(server, sock: socket.socket, announce: Callable[[str], None]) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started:
        host, port = sock.getsockname()[:2]
        announce(f"listening on http://{f'[{host}]' if ':' in host else host}:{port}")
    await task


def _listen(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise UserError(f"--host {host}: {e.strerror}; give a host name or address of this machine") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise UserError(
            f"cannot listen on {host}:{port}: {e.strerror}; choose another --port (0: any free one)"
        ) from None
    sock.set_inheritable(True)
    return sock
