"""``virtumancer serve --config FILE``: the options of ``serve`` read from a TOML file.

The keys are the options of the ``serve`` command themselves (``--token-file`` is
``token_file``), taken from its Click definition: a new option is a new key with nothing
else to change, and the types a key accepts follow the option's type. Precedence (see
:func:`merge_layers`): command line, then the environment, then the file, then defaults.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from typing import Any, Final

import click
from click.core import ParameterSource

__all__ = ["EXCLUSIVE", "file_keys", "load_config_file", "merge_layers"]

#: Options that only make sense alone: the layer (command line or file) that gives one of a
#: group decides the whole group, so a file's ``token_file`` never fights a ``--no-auth``.
EXCLUSIVE: Final = (("token", "token_file", "no_auth"), ("database", "database_url_file"))
#: Options that are no setting of the server (they say where the settings are).
_NOT_KEYS: Final = frozenset({"config", "help"})


def file_keys(params: Iterable[click.Parameter]) -> dict[str, click.Option]:
    """Return the keys a config file may hold: each option of ``params`` by its name."""
    return {
        param.name: param
        for param in params
        if isinstance(param, click.Option) and param.name and param.name not in _NOT_KEYS
    }


def _type_name(option: click.Option) -> str:
    if option.is_flag:
        return "true or false"
    if option.multiple:
        return "a list of strings"
    if isinstance(option.type, click.Choice):
        return "one of " + ", ".join(repr(str(choice)) for choice in option.type.choices)
    if option.type is click.INT:
        return "an integer"
    if option.type is click.FLOAT:
        return "a number"
    return "a string"


def _accepts(option: click.Option, value: object) -> bool:
    if option.is_flag:
        return isinstance(value, bool)
    if option.multiple:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    if isinstance(value, bool):  # TOML's true is not the integer 1 here
        return False
    if isinstance(option.type, click.Choice):
        return value in option.type.choices
    if option.type is click.INT:
        return isinstance(value, int)
    if option.type is click.FLOAT:
        return isinstance(value, int | float)
    return isinstance(value, str)


def load_config_file(path: str, params: Iterable[click.Parameter]) -> dict[str, Any]:
    """Return the settings of the TOML file ``path``, checked against the options ``params``.

    Raises :class:`ValueError` naming the file and the key for an unknown key or a value of
    the wrong type (never the value itself: it may be a secret), or if the file cannot be
    read or is not TOML.
    """
    keys = file_keys(params)
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ValueError(f"cannot read the config file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"the config file {path} is not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, value in document.items():
        option = keys.get(key)
        if option is None:
            raise ValueError(
                f"unknown key {key!r} in the config file {path} "
                f"(the keys are: {', '.join(sorted(keys))})"
            )
        if not _accepts(option, value):
            raise ValueError(
                f"key {key!r} in the config file {path} must be {_type_name(option)}, "
                f"not {_toml_type(value)}"
            )
        values[key] = float(value) if option.type is click.FLOAT else value
    for group in EXCLUSIVE:
        given = [key for key in group if values.get(key)]
        if len(given) > 1:
            raise ValueError(
                f"the config file {path} sets both {given[0]!r} and {given[1]!r}: choose one"
            )
    return values


def _toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    for kind, name in names.items():
        if type(value) is kind:
            return name
    if isinstance(value, list):
        return (
            "an array" if not value or all(isinstance(v, str) for v in value) else "a mixed array"
        )
    if isinstance(value, dict):
        return "a table"
    return "a date or time"


def merge_layers(
    params: Mapping[str, Any], ctx: click.Context, file_values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``params`` with the file's values under the command line's, and what is left.

    An option given on the command line keeps its value; otherwise the file's value replaces
    the default. The options the server also reads from the environment (the database and
    token ones, in :mod:`virtumancer_server.config`) stay out of ``params``: they come back
    as the second mapping, which those readers consult after the environment.
    """
    # The ASGI entry marks what the environment set as ENVIRONMENT: above the file too.
    on_command_line = {
        name
        for name in params
        if ctx.get_parameter_source(name)
        in {ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT}
    }
    merged = dict(params)
    decided = {key for group in EXCLUSIVE if on_command_line & set(group) for key in group}
    behind_env: dict[str, Any] = {}
    for key, value in file_values.items():
        if key in on_command_line or key in decided:
            continue
        if key in _BEHIND_ENV:
            behind_env[key] = value
        else:
            merged[key] = value
    return merged, behind_env


#: Options the environment may also set: the file's value is read after the environment's.
_BEHIND_ENV: Final = frozenset({"database", "database_url_file", "token", "token_file"})
