"""A recipe in one command: a config's `requires:` names the configs whose runs it builds on (the
model it fine-tunes, distils or back-translates with), and `seq2seq train` brings each of them to
its end first, in order and depth first: a run not started is trained, a stopped one resumed
(exactly), a finished one left as it is. So `seq2seq train configs/multi30k_best.yaml` trains the
released model's nine runs in turn, and after an interruption the same command carries on where it
stopped. `--set` overrides apply to the config named on the command line only.
"""

from __future__ import annotations

from pathlib import Path

from ..config.load import Config, load_config
from ..errors import UserError


def required_runs(path: str | Path, cfg: Config) -> list[tuple[str, Config]]:
    """(config path, config) of every run `cfg` requires, each once, those it requires first."""
    order: list[tuple[str, Config]] = []
    _visit(str(path), cfg, order, [str(path)])
    runs = [Path(cfg.run_dir).resolve()] + [Path(c.run_dir).resolve() for _, c in order]
    if len(set(runs)) < len(runs):
        raise UserError(f"{path} and the configs it requires share a run_dir; give each its own")
    return order


def _visit(path: str, cfg: Config, order: list[tuple[str, Config]], chain: list[str]) -> None:
    for required in cfg.requires:
        if required in chain:
            cycle = " -> ".join([*chain[chain.index(required) :], required])
            raise UserError(f"configs that require each other ({cycle}); remove one of the requires: entries")
        if not Path(required).is_file():
            raise UserError(
                f"{path} requires {required}, which is not a file; give the path of a config "
                "(relative to the working directory, like the data paths)"
            )
        if any(seen == required for seen, _ in order):
            continue
        required_cfg = load_config(required)
        _visit(required, required_cfg, order, [*chain, required])
        order.append((required, required_cfg))
