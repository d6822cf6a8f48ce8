"""`seq2seq chat MODEL`: talk with a model trained on (utterance, reply) pairs."""

from __future__ import annotations

import argparse
import secrets
import sys

from ..errors import UserError
from .options import add_debug, add_decoding, add_models, load_translator, non_negative, warn


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="talk with a model trained on (utterance, reply) pairs")
    add_models(p)
    p.add_argument(
        "--sample", action="store_true", help="sample each reply instead of searching for the best"
    )
    p.add_argument("--temperature", type=non_negative, help="with --sample: < 1 sharper, > 1 more varied")
    p.add_argument("--top-k", type=int, help="with --sample: draw from the k most probable tokens only")
    p.add_argument("--seed", type=int, help="with --sample: the seed of the draws (default: a new one)")
    p.add_argument(
        "--context",
        action="store_true",
        help="put the previous reply before each line (models of scripts/prepare_chatterbot.py --context)",
    )
    add_decoding(p)
    add_debug(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..decoding.sampler import Sampler
    from ..inference.chat import Conversation, chat_at_terminal, chat_stream

    sampling = {"--temperature": args.temperature, "--top-k": args.top_k, "--seed": args.seed}
    if not args.sample:
        for option, value in sampling.items():
            if value is not None:
                raise UserError(f"{option} is a sampling setting; add --sample")
    elif args.beam is not None or args.greedy:
        raise UserError("--sample and --beam/--greedy are two ways to pick a reply; give one of them")
    if args.temperature is not None and args.temperature == 0:
        raise UserError("--temperature must be above 0 (--greedy picks the most probable token)")
    if args.top_k is not None and args.top_k < 0:
        raise UserError(f"--top-k is {args.top_k}; give 0 (every token) or more")
    translator = load_translator(args)
    if args.sample:
        seed = args.seed if args.seed is not None else secrets.randbits(63)
        where = next(translator.model.parameters()).device.type
        translator.sampler = Sampler(args.temperature or 1.0, args.top_k or 0, seed, where)
    conversation = Conversation(translator, args.context)
    if sys.stdin.isatty():
        chat_at_terminal(conversation)
    else:
        chat_stream(conversation, sys.stdin.buffer, sys.stdout, warn)
    return 0
