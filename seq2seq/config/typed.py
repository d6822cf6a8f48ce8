"""Reading YAML into frozen dataclasses, the machinery behind load.py.

A field may carry a range (`ranged`); `build` turns a raw mapping into a dataclass tree, refusing
unknown keys (naming their dotted path and the closest valid key), wrong types, out-of-range values
and invalid choices, each with one line that says what is allowed. `read_extended` reads a file
and the configs it `extends:`; `apply_override` sets `section.key=value` in a raw mapping before
it is built.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Any, Literal

import yaml

from ..errors import UserError


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads 1e-3 as a string (it wants 1.0e-3); configs mean the number."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\d[\d_]*)?(\.[\d_]*)?[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def ranged(default: Any, lo: float | None = None, hi: float | None = None, hi_open: bool = False):
    """A field whose value must lie in [lo, hi] (or [lo, hi) when hi_open)."""
    return field(default=default, metadata={"range": (lo, hi, hi_open)})


def one_or_list(default: tuple = ()):
    """A list field that also takes one item alone (a string for a list of one; "": none), as the
    key took before it took a list."""
    return field(default=default, metadata={"one_or_list": True})


def section(cls):
    return field(default_factory=cls)


def read_yaml(path: str | Path) -> dict:
    """The mapping a YAML file holds; every way it can fail is one clear UserError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"config file {path} not found; check the path") from None
    except IsADirectoryError:
        raise UserError(f"config path {path} is a directory; give a YAML file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read config file {path}: {e}") from None
    try:
        raw = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "invalid syntax"
        raise UserError(f"config file {path} is not valid YAML{where}: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"config file {path} must hold a mapping of sections, not a {_kind(raw)}")
    return raw


def read_extended(path: Path, chain: tuple[Path, ...] = ()) -> dict:
    """The file's mapping laid over the one its `extends:` names (recursively): sections merge key
    by key, a value or a list replaces the base's. The extending config needs its own run_dir."""
    raw = read_yaml(path)
    if "extends" not in raw:
        return raw
    base_name = raw.pop("extends")
    if not isinstance(base_name, str) or not base_name:
        raise UserError(f"{path}: extends must name one config file, e.g. extends: base.yaml")
    base = path.parent / base_name
    if base.resolve() in [p.resolve() for p in [*chain, path]]:
        cycle = " -> ".join(str(p) for p in [*chain, path, base])
        raise UserError(f"configs that extend each other ({cycle}); remove one of the extends: keys")
    if not base.is_file():
        raise UserError(
            f"{path} extends {base_name}, which is not a file next to it ({base}); give the path of a "
            "config relative to the extending config's folder"
        )
    merged = read_extended(base, (*chain, path))
    if "run_dir" in merged and raw.get("run_dir", merged["run_dir"]) == merged["run_dir"]:
        raise UserError(
            f"{path} extends {base_name} but keeps its run_dir {merged['run_dir']}; give it its own "
            "run_dir, or its training would resume the other's run"
        )
    return _merge(merged, raw)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        both_sections = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if both_sections else value
    return out


def apply_override(raw: dict, item: str) -> None:
    """Set `a.b.c=value` in the raw mapping; the value is parsed as YAML (so 0.1, true, [1, 2])."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"override '{item}' must look like section.key=value, e.g. train.lr=0.001")
    try:
        value = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        value = text
    parts = key.strip().split(".")
    node = raw
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise UserError(f"override '{item}': '{where}' is a value, not a section")
        node = child
    node[parts[-1]] = value


def to_dict(cfg) -> dict:
    """Plain YAML-ready mapping (tuples become lists)."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            value = to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def flatten(cfg_dict: dict, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}."""
    out: dict[str, Any] = {}
    for key, value in cfg_dict.items():
        path = _join(prefix, key)
        if isinstance(value, dict):
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


def build(cls, raw: Any, prefix: str):
    if not isinstance(raw, dict):
        raise UserError(f"config section '{prefix}' must be a mapping of keys, not a {_kind(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in raw:
        if key not in fields:
            path = _join(prefix, str(key))
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.5)
            hint = (
                f"; did you mean '{_join(prefix, close[0])}'?"
                if close
                else f"; valid keys here: {', '.join(fields)}"
            )
            raise UserError(f"unknown config key '{path}'{hint}")
    values = {}
    for name, f in fields.items():
        path = _join(prefix, name)
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise UserError(f"missing config key '{path}'; add it to the config")
            continue
        if f.default == "" and raw[name] == "":  # an optional path left unset, as config.yaml saves it
            continue
        value = raw[name]
        if f.metadata.get("one_or_list") and not isinstance(value, (list, tuple)):
            value = [value] if value != "" else []
        value = _convert(hints[name], value, path)
        _check_range(f, value, path)
        values[name] = value
    return cls(**values)


def _convert(tp, value: Any, path: str):
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path)
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            allowed = ", ".join(str(c) for c in choices)
            raise UserError(f"config key '{path}' is {value!r}; allowed values: {allowed}")
        return value
    if origin is tuple and typing.get_args(tp)[1:] == (Ellipsis,):
        if not isinstance(value, (list, tuple)):
            raise UserError(f"config key '{path}' must be a list, e.g. [a, b]")
        item = typing.get_args(tp)[0]
        return tuple(_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise UserError(f"config key '{path}' must be a list of {len(args)} numbers, e.g. [0.9, 0.999]")
        return tuple(_convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"unsupported config type at {path}")  # keep configs free of Optionals
    if tp is bool:
        if not isinstance(value, bool):
            raise UserError(f"config key '{path}' must be true or false, not {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"config key '{path}' must be a whole number, not {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UserError(f"config key '{path}' must be a finite number, not {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str) or not value:
            raise UserError(f"config key '{path}' must be a non-empty string, not {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp} at {path}")


def _check_range(f: dataclasses.Field, value: Any, path: str) -> None:
    if "range" not in f.metadata:
        return
    lo, hi, hi_open = f.metadata["range"]
    too_low = lo is not None and value < lo
    too_high = hi is not None and (value >= hi if hi_open else value > hi)
    if too_low or too_high:
        if hi is None:
            allowed = f">= {lo}"
        else:
            allowed = f"in [{lo}, {hi}{')' if hi_open else ']'}"
        raise UserError(f"config key '{path}' is {value}; it must be {allowed}")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _kind(value: Any) -> str:
    return type(value).__name__
