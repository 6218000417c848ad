"""``perfgate completion SHELL``: a completion script for bash, zsh or tcsh (shtab, the usual
generator for argparse programs), built from every command's arguments.

    perfgate completion bash > ~/.local/share/bash-completion/completions/perfgate
    perfgate completion zsh > "${fpath[1]}/_perfgate"
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from perfgate.commands import build_parser
from perfgate.outcome import Outcome

SHELLS = ("bash", "zsh", "tcsh")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def run(args: argparse.Namespace, console: Console) -> Outcome:
    import shtab

    sys.stdout.write(shtab.complete(build_parser(every_command=True), shell=args.shell))
    return Outcome.OK
