"""Public corpora the configs train on, fetched by one explicit command (`seq2seq data NAME`).

A `Dataset` lists its files: the name each gets in the output folder, where the official copy lies
online, whether that copy is gzipped, and the SHA-256 digest of the file as written (after
unpacking). Every file is checked against its digest before it gets its final name, so a damaged
download, another version of the data or an interrupted copy never looks like the real thing; a
file already there with the right digest is kept, one with another digest is never overwritten.
Nothing here runs unless the user asks for it: training and tests never download.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import UserError

log = logging.getLogger("seq2seq")

CHUNK = 1 << 20


@dataclass(frozen=True)
class DataFile:
    name: str  # in the output folder
    url: str  # the official copy
    sha256: str  # of the file as written, after unpacking
    gzipped: bool = False  # the official copy is gzipped (a local copy may be either)


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    files: tuple[DataFile, ...]
    terms: str  # what the data's owners ask of its users


_M30K = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1"
# SHA-256 of the files of the multi30k/dataset repository (commit a3d2e0d), raw/ ones unpacked
_M30K_RAW = {
    "train.en": "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6",
    "train.de": "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72",
    "val.en": "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227",
    "val.de": "660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660",
    "test_2016_flickr.en": "399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182",
    "test_2016_flickr.de": "4be6b5b3236b79c25475c6bb829800a7ce559e9ba7a1f6c2394fe4d40be46d16",
}
_M30K_TOK = {
    "test_2016_flickr.lc.norm.tok.de": "c6a33d39d48f9f510de147651316cd9d918e09ad0219df734a2f16b6baccacc4",
}
MULTI30K = Dataset(
    name="multi30k",
    description="Multi30k task 1, English-German: train (29,000), val (1,014), test_2016_flickr (1,000), "
    "raw and cased, and the lowercased tokenized test2016 reference the papers score against",
    files=(
        *(
            DataFile(name, f"{_M30K}/raw/{name}.gz", digest, gzipped=True)
            for name, digest in _M30K_RAW.items()
        ),
        *(DataFile(name, f"{_M30K}/tok/{name}", digest) for name, digest in _M30K_TOK.items()),
    ),
    terms="Multi30k (Elliott et al. 2016) is derived from Flickr30k; its owners provide it for "
    "non-commercial research and educational use (see the multi30k/dataset repository's README)",
)

DATASETS = {d.name: d for d in (MULTI30K,)}


def fetch_dataset(
    dataset: Dataset, out: Path, source: Path | None = None, timeout: float = 60.0
) -> list[Path]:
    """Put every file of `dataset` into `out`: downloaded from its official URL, or copied from
    the folder `source` (a local copy holding each file by its name, plain or with `.gz`). Returns
    the files' paths. Each one is written under a temporary name, checked, then renamed."""
    if source is not None and not source.is_dir():
        raise UserError(
            f"--from {source} is not a directory; give the folder that holds a copy of {dataset.name}"
        )
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(
            f"cannot create {out} ({e.strerror or e}); choose another folder with --out"
        ) from None
    try:
        return _fill(dataset, out, source, timeout)
    finally:
        if created and not any(out.iterdir()):  # a failure at the first file leaves no empty folder
            out.rmdir()


def _fill(dataset: Dataset, out: Path, source: Path | None, timeout: float) -> list[Path]:
    paths = []
    for f in dataset.files:
        target = out / f.name
        if target.exists():
            if _digest_of(target) != f.sha256:
                raise UserError(
                    f"{target} exists and is not the official {f.name} (another SHA-256); "
                    "move it away, or choose another folder with --out"
                )
            log.info(f"{target}: already there, digest checked")
        else:
            opener = _local(source, f) if source is not None else _remote(f, timeout)
            _write_checked(target, opener, f)
            log.info(f"{target}: written, digest checked")
        paths.append(target)
    return paths


def _write_checked(target: Path, opener: Callable[[], BinaryIO], f: DataFile) -> None:
    """Stream what `opener` yields into a temporary file beside `target`, check its digest, and
    only then give it the final name; on any failure the temporary file is removed."""
    tmp = target.with_name(f".{target.name}.part")
    digest = hashlib.sha256()
    try:
        with opener() as stream, open(tmp, "wb") as sink:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                sink.write(chunk)
        if digest.hexdigest() != f.sha256:
            raise UserError(
                f"{f.name}: SHA-256 {digest.hexdigest()[:16]}... is not the official file's "
                f"{f.sha256[:16]}... (damaged or another version); nothing was written under {target}; "
                "fetch it again, or give --from a folder with the official files"
            )
        os.replace(tmp, target)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise UserError(_read_error(f, e)) from None
    finally:
        tmp.unlink(missing_ok=True)


def _read_error(f: DataFile, e: BaseException) -> str:
    if isinstance(e, urllib.error.URLError):  # an HTTPError too
        reason = getattr(e, "reason", e)
        host = urllib.request.urlparse(f.url).netloc
        return (
            f"cannot download {f.name} from {host} ({reason}); check the connection, "
            "or copy the files from a machine that has them and use --from DIR"
        )
    if isinstance(e, (EOFError, gzip.BadGzipFile)):
        return f"{f.name}: the gzipped copy is damaged ({e}); fetch it again"
    return f"{f.name}: {e.strerror if isinstance(e, OSError) and e.strerror else e}; nothing was written"


def _local(source: Path, f: DataFile) -> Callable[[], BinaryIO]:
    plain, packed = source / f.name, source / f"{f.name}.gz"
    if plain.is_file():
        return lambda: open(plain, "rb")
    if packed.is_file():
        return lambda: gzip.open(packed, "rb")
    raise UserError(
        f"{f.name} is missing from {source} (looked for {plain.name} and {packed.name}); "
        "copy it there, or run without --from to download it"
    )


def _remote(f: DataFile, timeout: float) -> Callable[[], BinaryIO]:
    def opener():
        log.info(f"downloading {f.url}")
        response = urllib.request.urlopen(f.url, timeout=timeout)  # noqa: S310 (https, fixed URLs)
        return gzip.GzipFile(fileobj=response) if f.gzipped else response

    return opener


def _digest_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
