"""The JSON shape of a :class:`~virtumancer.models.spec.VmSpec`, through a private cattrs
converter: :func:`structure_spec` for request bodies, :func:`unstructure_spec` back.

The shape is the spec's fields by name; enums are their values; a disk is an object whose
``kind`` says which of :data:`DISK_KINDS` it is. Unknown keys are refused, numbers must be
JSON integers and strings JSON strings (no ``"1024"`` for a size, no ``1.5`` truncated to 1).
Every error becomes one :class:`~virtumancer.exceptions.InvalidInputError` whose ``field`` is
the JSON path of the bad value (``disks[1].size_bytes``, ``nics[0].mac``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final, get_args, get_origin

import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.preconf.json import make_converter as make_json_converter
from cattrs.v import format_exception

from virtumancer.exceptions import InvalidInputError
from virtumancer.models.spec import (
    Accelerator,
    BootDevice,
    DiskBus,
    DiskDevice,
    DiskSpec,
    ExistingPath,
    ExistingVolume,
    Firmware,
    GraphicsType,
    NewVolume,
    Overlay,
    SerialType,
    VmSpec,
    VolumeFormat,
)

__all__ = [
    "DISK_KINDS",
    "make_spec_converter",
    "structure_spec",
    "structure_spec_part",
    "unstructure_spec",
]

#: The ``kind`` of each disk variant in JSON.
DISK_KINDS: Final[Mapping[str, type[DiskSpec]]] = {
    "new_volume": NewVolume,
    "existing_volume": ExistingVolume,
    "existing_path": ExistingPath,
    "overlay": Overlay,
}
_KIND_OF: Final = {cls: kind for kind, cls in DISK_KINDS.items()}


def _strict_int(value: object, _: type) -> int:
    # bool is an int in Python but never a size or a count in JSON.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _strict_str(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


_ENUMS: Final = (
    Accelerator,
    BootDevice,
    DiskBus,
    DiskDevice,
    Firmware,
    GraphicsType,
    SerialType,
    VolumeFormat,
)


def _structure_enum(value: object, kind: type[enum.Enum]) -> enum.Enum:
    try:
        return kind(_strict_str(value, str))
    except ValueError:
        choices = ", ".join(str(member.value) for member in kind)
        raise ValueError(f"{value!r} is not one of {choices}") from None


def _is_tuple(kind: Any) -> bool:
    return get_origin(kind) is tuple


def _tuple_hook(converter: cattrs.Converter) -> Any:
    def factory(kind: Any) -> Any:
        (item_type, *_) = get_args(kind)
        item_hook = converter.get_structure_hook(item_type)

        def structure(value: object, _: type) -> tuple[Any, ...]:
            # cattrs would take any iterable: a string ("hd" as ('h', 'd')) or an object's
            # keys. JSON arrays only.
            if not isinstance(value, list | tuple):
                raise TypeError(f"expected an array, got {type(value).__name__}")
            items, errors = [], []
            for index, item in enumerate(value):
                try:
                    items.append(item_hook(item, item_type))
                except Exception as exc:
                    exc.__notes__ = [
                        *getattr(exc, "__notes__", []),
                        IterableValidationNote(f"item {index}", index, item_type),
                    ]
                    errors.append(exc)
            if errors:
                raise IterableValidationError(f"while structuring {kind!r}", errors, kind)
            return tuple(items)

        return structure

    return factory


def make_spec_converter() -> cattrs.Converter:
    """Make a fresh converter for the spec's JSON shape (a new private instance per call)."""
    converter = make_json_converter(
        forbid_extra_keys=True, unstruct_collection_overrides={tuple: list}
    )
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(str, _strict_str)
    # Our enums are str subclasses: without their own hook they would get the str one.
    for enum_type in _ENUMS:
        converter.register_structure_hook(enum_type, _structure_enum)
    converter.register_structure_hook_factory(_is_tuple, _tuple_hook(converter))

    def structure_disk(data: object, _: type) -> DiskSpec:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected an object for a disk, got {type(data).__name__}")
        kind = data.get("kind")
        cls = DISK_KINDS.get(kind) if isinstance(kind, str) else None
        if cls is None:
            choices = ", ".join(DISK_KINDS)
            raise InvalidInputError(f"kind: {kind!r} is not one of {choices}", field="kind")
        rest = {key: value for key, value in data.items() if key != "kind"}
        disk: DiskSpec = converter.structure(rest, cls)
        return disk

    def unstructure_disk(disk: DiskSpec) -> dict[str, Any]:
        data: dict[str, Any] = converter.unstructure(disk, type(disk))
        return {"kind": _KIND_OF[type(disk)], **data}

    converter.register_structure_hook(DiskSpec, structure_disk)
    converter.register_unstructure_hook(DiskSpec, unstructure_disk)
    return converter


_CONVERTER: Final = make_spec_converter()


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path and not name.startswith("[") else f"{path}{name}"


def _first_error(exc: BaseException, path: str) -> InvalidInputError:
    # A walk like cattrs.transform_error's, but keeping the path apart from the message so
    # the 400 body can name the field; the first error is the one reported.
    if isinstance(exc, ClassValidationError | IterableValidationError):
        with_notes, without = exc.group_exceptions()
        if with_notes:
            inner, note = with_notes[0]
            step = f"[{note.index}]" if isinstance(note, IterableValidationNote) else str(note.name)
            return _first_error(inner, _join(path, step))
        if without:
            return _first_error(without[0], path)
    if isinstance(exc, ForbiddenExtraKeysError):
        keys = sorted(exc.extra_fields)
        where = f" in {path}" if path else ""
        return InvalidInputError(
            f"unknown key(s){where}: {', '.join(keys)}", field=_join(path, keys[0])
        )
    if isinstance(exc, InvalidInputError):
        field = path if exc.field is None else _join(path, exc.field)
        message = exc.message
        if exc.field is not None and message.startswith(f"{exc.field}: "):
            message = message[len(exc.field) + 2 :]
        return InvalidInputError(f"{field}: {message}" if field else message, field=field or None)
    if isinstance(exc, KeyError):
        return InvalidInputError(f"{path}: is required", field=path or None)
    message = str(exc) if type(exc) is ValueError else format_exception(exc, None)
    return InvalidInputError(f"{path}: {message}" if path else message, field=path or None)


def structure_spec(data: Mapping[str, Any]) -> VmSpec:
    """Build a :class:`VmSpec` from its JSON object (a decoded request body).

    Raise :class:`InvalidInputError` whose ``field`` is the JSON path of the first bad value.
    """
    if not isinstance(data, Mapping):
        raise InvalidInputError("a VM spec must be a JSON object")
    try:
        spec: VmSpec = _CONVERTER.structure(data, VmSpec)
    except Exception as exc:
        raise _first_error(exc, "") from exc
    return spec


def structure_spec_part(data: object, kind: Any, path: str) -> Any:
    """Build one part of a spec (a :data:`DiskSpec`, a ``NicSpec``) from its JSON value.

    The JSON shape is the one it has inside a spec; errors name the field under ``path``
    (``disk.size_bytes``).
    """
    try:
        return _CONVERTER.structure(data, kind)
    except Exception as exc:
        raise _first_error(exc, path) from exc


def unstructure_spec(spec: VmSpec) -> dict[str, Any]:
    """Return the JSON object of ``spec`` (what :func:`structure_spec` reads back)."""
    data: dict[str, Any] = _CONVERTER.unstructure(spec, VmSpec)
    return data
