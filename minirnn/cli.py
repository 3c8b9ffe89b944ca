"""The ``minirnn`` command line: ``minirnn gradcheck`` (and, with training, more)."""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minirnn",
        description="Recurrent neural networks from Dive into Deep Learning, in pure NumPy.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    gc = sub.add_parser("gradcheck", help="check every layer's backward pass against centered "
                                          "differences in float64 and print a table",
                        description="Gradient-check every layer and the language model "
                                    "(float64, centered differences); exit 1 if any max "
                                    "relative error is 1e-6 or more.")
    gc.set_defaults(func=_cmd_gradcheck)
    return parser


def _cmd_gradcheck(args) -> int:
    from .gradcheck import main as gradcheck_main
    return gradcheck_main([])


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
