"""Command lines from frozen dataclasses: one flag per field, its help from the field's metadata.

argparse rejects unknown flags, values of the wrong type and numbers outside the field's `bounds`
(pipeline/core/limits.py) with exit code 2; a config's `validate()` rejects values that parse but make no
sense together. Every refusal names the flag and what to do.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import inspect
import ipaddress
import re
import socket
import sys
import typing

from pipeline.core import limits


class UsageError(ValueError):
    """Bad input from the command line; main() prints it and exits with code 2."""


def flag(default, help: str, **metadata):
    if isinstance(default, list | tuple):
        return dataclasses.field(default=tuple(default), metadata={"help": help, **metadata})
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


def reflag(config_cls, name: str, *, default=dataclasses.MISSING, help: str | None = None):
    """The flag `name` of `config_cls` with a job's own default and/or help; its type and bounds stay."""
    field = config_cls.__dataclass_fields__[name]
    metadata = {**field.metadata, **({"help": help} if help is not None else {})}
    return flag(field.default if default is dataclasses.MISSING else default, **metadata)


def build_parser(config_cls, description: str, prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hints = typing.get_type_hints(config_cls)
    # the job's own flags first (in its `help_order` where it has one), the shared ones (data flags) after them
    first = getattr(config_cls, "help_order", None) or tuple(inspect.get_annotations(config_cls))
    place = {name: i for i, name in reversed(list(enumerate(first)))}  # a name listed twice: its first place
    for f in sorted(dataclasses.fields(config_cls), key=lambda f: place.get(f.name, len(first))):
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
            if base in (int, float):  # every number has its range: an unbounded one is a bug here
                kwargs["type"] = limits.number(base, f.metadata["bounds"])
            else:
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


def check_study(name: str | None, flag: str = "--study") -> None:
    problem = limits.text_problem(name or "", flag, limits.MAX_STUDY_NAME_CHARS)
    if problem:
        raise UsageError(f"{problem}; a study name is 1-{limits.MAX_STUDY_NAME_CHARS} printable characters "
                         "(a new name starts a study, an existing one continues it)")


_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")


def check_host(host: str, flag: str = "--host") -> None:
    """An IP address or a host name (RFC 1123); 999.1.1.1 is neither."""
    if re.fullmatch(r"[0-9.]+|.*:.*", host or ""):  # looks like an IPv4 or IPv6 address: it must be one
        try:
            ipaddress.ip_address(host)
            return
        except ValueError:
            pass
    elif len(host) <= 253 and _HOSTNAME.fullmatch(host):
        return
    raise UsageError(f"{flag} {limits.shown(host or '')} is not an IP address or host name; pass one like 127.0.0.1")


def check_listen(host: str, port: int) -> None:
    """The master can listen on host:port: an address of this machine, and a free port (0: any)."""
    check_host(host)
    try:
        with socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET):
            pass
    except OSError as err:
        if port and err.errno == errno.EADDRINUSE:
            raise UsageError(f"--port {port} is taken on {host}; pass a free port, or --port 0 for any free "
                             "one") from None
        raise UsageError(f"--host {host}: cannot listen there ({err.strerror or err}); pass an address of this "
                         "machine") from None


DEVICE = re.compile(r"auto|cpu|cuda(:\d{1,2})?")


def check_device(device: str) -> None:
    """The device exists on this machine (torch is imported only when CUDA is asked for)."""
    if not DEVICE.fullmatch(device):
        raise UsageError(f"--device {limits.shown(device)} is not a device; use auto, cpu, cuda or cuda:N")
    if device.startswith("cuda"):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.partition(":")[2] or 0)
        if index >= count:
            raise UsageError(f"--device {device}: torch sees {f'{count} CUDA devices' if count else 'no CUDA device'} "
                             "here; use --device cpu or auto" + (f", or cuda:0 to cuda:{count - 1}" if count else ""))


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
