"""Command lines from frozen dataclasses: one flag per field, its help from the field's metadata.

argparse rejects unknown flags and values of the wrong type with exit code 2; `check` callbacks
reject values that parse but make no sense. Every refusal names the flag and what to do.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing


class UsageError(ValueError):
    """Bad input from the command line; main() prints it and exits with code 2."""


def flag(default, help: str, **metadata):  # noqa: A002 - mirrors argparse's own keyword
    if isinstance(default, list | tuple):
        return dataclasses.field(default=tuple(default), metadata={"help": help, **metadata})
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


def build_parser(config_cls, description: str, prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hints = typing.get_type_hints(config_cls)
    own = config_cls.__dict__.get("__annotations__", {})
    # the job's own flags first, the shared ones (data flags) after them
    for f in sorted(dataclasses.fields(config_cls), key=lambda f: f.name not in own):
        name = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        required = f.default is dataclasses.MISSING
        kwargs = {"help": f.metadata.get("help", ""), "dest": f.name}
        if kind is bool:
            parser.add_argument(name, action=argparse.BooleanOptionalAction, default=f.default, **kwargs)
            continue
        args = typing.get_args(kind)
        if typing.get_origin(kind) is tuple:  # comma-separated list
            item = args[0]
            kwargs["type"] = lambda text, item=item: tuple(item(v) for v in text.split(",") if v)
        else:
            base = next((a for a in args if a is not type(None)), kind)  # X | None -> X
            kwargs["type"] = base
        if "choices" in f.metadata:
            kwargs["choices"] = f.metadata["choices"]
        parser.add_argument(name, required=required, default=None if required else f.default, **kwargs)
    return parser


def parse(config_cls, argv: list[str] | None, *, description: str, prog: str):
    parser = build_parser(config_cls, description, prog)
    config = config_cls(**vars(parser.parse_args(argv)))
    try:
        config.validate()
    except UsageError as err:
        parser.exit(2, f"{prog}: error: {err}\n")
    return config


def fail(prog: str, message: str, code: int = 2) -> typing.NoReturn:
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(config_cls, job, argv: list[str] | None, *, prog: str, description: str, errors: tuple) -> None:
    """Parse flags into `config_cls`, run `job(config)`, and turn `errors` into a message + exit 2."""
    config = parse(config_cls, argv, description=description, prog=prog)
    try:
        job(config)
    except errors as err:
        fail(prog, str(err))
