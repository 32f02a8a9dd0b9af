"""The request bodies the REST API takes, as attrs types, and the one place that structures them.

Each type is what one route reads from its JSON body; :func:`structure_request` turns a decoded
document into it with cattrs and turns *every* failure into one
:class:`~virtumancer.InvalidInputError` whose ``field`` is the JSON path of the offending value
(``id``, ``domain_uuids[2]``). Resources never check fields by hand. The same types feed the
OpenAPI document (:mod:`virtumancer_server.schema`): field metadata carries descriptions,
patterns and bounds, so the rules are written once.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from collections.abc import Mapping
from typing import Any, Final, TypeVar, cast

import attrs
import cattrs
from cattrs.errors import ForbiddenExtraKeysError, IterableValidationNote
from cattrs.v import transform_error

from virtumancer import (
    DeviceScope,
    DiskSpec,
    InvalidInputError,
    MetricsSettings,
    NatNetworkSpec,
    NicSpec,
    PowerAction,
    Role,
    VmChange,
    VmSpec,
    make_converter,
    structure_spec,
    structure_spec_part,
)
from virtumancer_server.inputs import check_text

__all__ = [
    "HOST_ID_PATTERN",
    "SCHEMA",
    "UNSET",
    "ActionRequest",
    "CloneRequest",
    "DiskAttachment",
    "DomainUuids",
    "MetricsSettingsChanges",
    "NewHost",
    "NewNetwork",
    "NewSnapshot",
    "NewStoragePool",
    "NewToken",
    "NewVm",
    "NewVmXml",
    "NewVolume",
    "NicAttachment",
    "RequestBody",
    "VmChanges",
    "VolumeSize",
    "schema_meta",
    "structure_request",
]

T = TypeVar("T")

#: Field metadata key holding JSON Schema keywords (``description``, ``pattern``, ``x-unit``...).
SCHEMA: Final = "openapi"

#: What a new host id may look like: it becomes a URL path segment (``/hosts/{id}/...``), so
#: no ``/``, spaces or other characters that would make the host unreachable through the API.
HOST_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_HOST_ID: Final = re.compile(HOST_ID_PATTERN)


class _Unset(enum.Enum):
    UNSET = "unset"


#: Default of optional request fields: "not sent", told apart from an explicit ``null``.
UNSET: Final = _Unset.UNSET


def schema_meta(**keywords: object) -> dict[str, object]:
    """Return attrs field metadata carrying JSON Schema ``keywords`` (``x_unit`` -> ``x-unit``)."""
    return {
        SCHEMA: {
            key.replace("_", "-") if key.startswith("x_") else key: value
            for key, value in keywords.items()
        }
    }


# -- validators (raise with the message; the path is added where the error is reported) -----


def _non_empty_text(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value.strip():
        raise InvalidInputError(
            f"{attribute.name} must be a non-empty string", field=attribute.name
        )
    check_text(value, attribute.name)


def _host_id(inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    _non_empty_text(inst, attribute, value)
    if not _HOST_ID.fullmatch(value):
        raise InvalidInputError(
            f"id {value[:80]!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            field=attribute.name,
        )


def _uuid_text(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError("{field} must be a string")
    try:
        uuid.UUID(value)
    except ValueError:
        # A malformed UUID is the request's fault (400), not an unknown domain (404).
        raise ValueError(f"{{field}} is not a UUID: {value[:80]!r}") from None
    return value


class DomainUuid(str):
    """A domain UUID in its canonical text form (a ``str`` checked while structuring)."""

    __slots__ = ()


# -- request types -----------------------------------------------------------------------


class RequestBody:
    """Base of request types: :meth:`arguments` is what the library method is called with."""

    def arguments(self) -> dict[str, object]:
        """Return the keyword arguments for the route's library method (unset fields omitted)."""
        return {
            field.name: value
            for field in attrs.fields(cast("type[attrs.AttrsInstance]", type(self)))
            if (value := getattr(self, field.name)) is not UNSET
        }


@attrs.frozen(kw_only=True)
class NewHost(RequestBody):
    """``POST /hosts``: a host id (a URL path segment) and its libvirt URI."""

    id: str = attrs.field(
        validator=_host_id,
        metadata=schema_meta(pattern=HOST_ID_PATTERN, description="The host's id, used in URLs"),
    )
    uri: str = attrs.field(
        validator=_non_empty_text,
        metadata=schema_meta(minLength=1, description="libvirt connection URI"),
    )

    def arguments(self) -> dict[str, object]:
        """``add_host(host_id, uri)``."""
        return {"host_id": self.id, "uri": self.uri}


@attrs.frozen(kw_only=True)
class ActionRequest(RequestBody):
    """``POST .../action``: one power action."""

    action: PowerAction = attrs.field(metadata=schema_meta(description="The power action"))


@attrs.frozen(kw_only=True)
class DomainUuids(RequestBody):
    """``import-selected`` and dismissing discovered VMs: the domains, by UUID."""

    domain_uuids: tuple[DomainUuid, ...] = attrs.field(
        metadata=schema_meta(description="Domain UUIDs (canonical text form)")
    )


def _setting_meta(name: str) -> dict[str, object]:
    # The ranges and choices are the model's (its field metadata), written once.
    return dict(attrs.fields_dict(MetricsSettings)[name].metadata)


@attrs.frozen(kw_only=True)
class MetricsSettingsChanges(RequestBody):
    """``PUT /settings/metrics``: the settings to change (others keep their value).

    Types are checked here; ranges and choices are the library's (:class:`MetricsSettings`),
    and the OpenAPI document shows them from the model's field metadata.
    """

    cpu_smoothing_window: int | _Unset = attrs.field(
        default=UNSET, metadata=_setting_meta("cpu_smoothing_window")
    )
    memory_display_unit: str | _Unset = attrs.field(
        default=UNSET, metadata=_setting_meta("memory_display_unit")
    )
    default_cpu_view: str | _Unset = attrs.field(
        default=UNSET, metadata=_setting_meta("default_cpu_view")
    )
    stats_interval_seconds: float | _Unset = attrs.field(
        default=UNSET, metadata=_setting_meta("stats_interval_seconds")
    )

    def arguments(self) -> dict[str, object]:
        """``update_metrics_settings(changes)``."""
        return {"changes": super().arguments()}


@attrs.frozen(kw_only=True)
class NewToken(RequestBody):
    """``POST /tokens``: a token name, its role and an optional expiry."""

    # The name's pattern is the library's (``TokenService`` names the field when it refuses).
    name: str = attrs.field(validator=_non_empty_text)
    role: Role
    expires_at: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class NewVm(RequestBody):
    """``POST /hosts/{host_id}/vms``: the body is a VM spec (see docs/vm-spec.md).

    Errors name the spec's own JSON paths (``disks[1].size_bytes``), whether the body or the
    host refused it. Whether to start it is the ``start`` query parameter.
    """

    #: The body's schema is the spec's (see :mod:`virtumancer_server.schema`).
    __body_schema__ = VmSpec

    spec: VmSpec


@attrs.frozen(kw_only=True)
class NewVmXml(RequestBody):
    """``POST /hosts/{host_id}/vms-from-xml``: raw domain XML, checked by the parser first."""

    xml: str = attrs.field(validator=_non_empty_text, metadata=schema_meta(minLength=1))
    start: bool = False


@attrs.frozen(kw_only=True)
class VmChanges(RequestBody):
    """``PATCH /hosts/{host_id}/vms/{vm_name}``: what to change; fields not sent are kept."""

    memory_bytes: int | _Unset = attrs.field(
        default=UNSET, metadata=schema_meta(x_unit="bytes", minimum=1024 * 1024)
    )
    vcpus: int | _Unset = attrs.field(default=UNSET, metadata=schema_meta(minimum=1))
    description: str | _Unset = UNSET
    autostart: bool | _Unset = UNSET
    cdrom_media: dict[str, str] | _Unset = attrs.field(
        default=UNSET,
        metadata=schema_meta(
            description="CD-ROM target (sda, hdc) to the image path to insert, or '' to eject"
        ),
    )

    def arguments(self) -> dict[str, object]:
        """``update_vm(change)``."""
        return {"change": VmChange(**super().arguments())}  # type: ignore[arg-type]


@attrs.frozen(kw_only=True)
class DiskAttachment(RequestBody):
    """``POST .../vms/{vm_name}/disks``: a disk as in a spec, its guest device, the scope."""

    disk: DiskSpec = attrs.field(
        metadata=schema_meta(description="A disk as in a VM spec (kind: new_volume ...)")
    )
    target: str | _Unset = attrs.field(
        default=UNSET, metadata=schema_meta(description="Guest device (vdb); default: the next")
    )
    scope: DeviceScope | _Unset = attrs.field(
        default=UNSET,
        metadata=schema_meta(description="live, config or both (default: both")
        + " as the VM allows)"
        if False
        else schema_meta(description="live, config or both; default: as the VM allows"),
    )


@attrs.frozen(kw_only=True)
class NicAttachment(RequestBody):
    """``POST .../vms/{vm_name}/interfaces``: a NIC as in a spec, and the scope."""

    nic: NicSpec = attrs.field(metadata=schema_meta(description="A NIC as in a VM spec"))
    scope: DeviceScope | _Unset = attrs.field(
        default=UNSET,
        metadata=schema_meta(description="live, config or both; default: as the VM allows"),
    )


@attrs.frozen(kw_only=True)
class NewStoragePool(RequestBody):
    """``POST /hosts/{host_id}/storage/pools``: a directory pool."""

    name: str = attrs.field(validator=_non_empty_text, metadata=schema_meta(minLength=1))
    path: str = attrs.field(
        validator=_non_empty_text, metadata=schema_meta(description="An absolute directory")
    )
    autostart: bool = True


@attrs.frozen(kw_only=True)
class NewVolume(RequestBody):
    """``POST .../storage/pools/{pool_name}/volumes``: a sparse volume."""

    name: str = attrs.field(validator=_non_empty_text, metadata=schema_meta(minLength=1))
    size_bytes: int = attrs.field(metadata=schema_meta(x_unit="bytes", minimum=1024 * 1024))
    format: str = attrs.field(default="qcow2", metadata=schema_meta(enum=["qcow2", "raw"]))


@attrs.frozen(kw_only=True)
class VolumeCopy(RequestBody):
    """``POST .../volumes/{volume_name}/copy``: the copy's name and pool (default: the same)."""

    name: str = attrs.field(validator=_non_empty_text, metadata=schema_meta(minLength=1))
    target_pool: str | _Unset = attrs.field(
        default=UNSET, metadata=schema_meta(description="Default: the source's pool")
    )


@attrs.frozen(kw_only=True)
class VolumeSize(RequestBody):
    """``PATCH .../volumes/{volume_name}``: the new (larger) size."""

    size_bytes: int = attrs.field(metadata=schema_meta(x_unit="bytes", minimum=1024 * 1024))


@attrs.frozen(kw_only=True)
class NewNetwork(RequestBody):
    """``POST /hosts/{host_id}/networks``: a NAT network with a DHCP range."""

    name: str = attrs.field(validator=_non_empty_text, metadata=schema_meta(minLength=1))
    address: str = attrs.field(metadata=schema_meta(description="The host's IPv4 address on it"))
    prefix: int = attrs.field(default=24, metadata=schema_meta(minimum=8, maximum=30))
    dhcp_start: str | None = None
    dhcp_end: str | None = None
    bridge: str | None = None
    autostart: bool = False

    def arguments(self) -> dict[str, object]:
        """``define_network(spec)``."""
        return {"spec": NatNetworkSpec(**super().arguments())}  # type: ignore[arg-type]


@attrs.frozen(kw_only=True)
class CloneRequest(RequestBody):
    """``POST .../vms/{vm_name}/clone``: the clone's name; full copies or overlays."""

    name: str = attrs.field(validator=_non_empty_text, metadata=schema_meta(minLength=1))
    full_copy: bool = attrs.field(
        default=False,
        metadata=schema_meta(description="Copy the disks (default: qcow2 overlays on them)"),
    )


@attrs.frozen(kw_only=True)
class NewSnapshot(RequestBody):
    """``POST .../vms/{vm_name}/snapshots``: a name (default: the time), what it holds."""

    name: str | _Unset = attrs.field(
        default=UNSET, metadata=schema_meta(description="Default: libvirt's (the time)")
    )
    description: str | _Unset = UNSET
    memory: bool | _Unset = attrs.field(
        default=UNSET,
        metadata=schema_meta(description="Keep the guest's memory too (default: if it runs)"),
    )


def _attachment(cls: type, part: str, kind: Any, fields: tuple[str, ...]) -> Any:
    # The part has the spec's converter (its errors carry the JSON path, "disk.pool").
    def structure(value: object, _: type) -> object:
        if not isinstance(value, dict):
            raise InvalidInputError("the body must be a JSON object", field="body")
        extra = sorted(set(value) - {part, *fields})
        if extra:
            raise InvalidInputError(f"unknown field {extra[0]!r}", field=extra[0])
        if part not in value:
            raise InvalidInputError(f"{part} is required", field=part)
        arguments: dict[str, object] = {part: structure_spec_part(value[part], kind, part)}
        if "target" in value:
            target = value["target"]
            if not isinstance(target, str) or not target.isalnum() or len(target) > 16:
                raise InvalidInputError("target must be a device name like vdb", field="target")
            arguments["target"] = target
        if "scope" in value:
            try:
                arguments["scope"] = DeviceScope(value["scope"])
            except ValueError:
                choices = ", ".join(member.value for member in DeviceScope)
                raise InvalidInputError(f"scope must be one of {choices}", field="scope") from None
        return cls(**arguments)

    return structure


# -- structuring -----------------------------------------------------------------------------

#: Request types whose unknown keys are refused (today: settings, where a typo would be lost).
_CLOSED: Final[frozenset[type]] = frozenset(
    {
        MetricsSettingsChanges,
        VmChanges,
        NewVmXml,
        NewSnapshot,
        CloneRequest,
        NewStoragePool,
        NewVolume,
        VolumeSize,
        NewNetwork,
    }
)


def _strict(kind: type, word: str) -> Any:
    def structure(value: object, _: type) -> object:
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"{{field}} must be {word}")
        if kind is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, kind):
            raise TypeError(f"{{field}} must be {word}")
        return value

    return structure


def _enum_hook(value: object, cls: type[enum.Enum]) -> enum.Enum:
    choices = [member.value for member in cls]
    if value not in choices:
        shown = repr(value)[:80]
        raise ValueError(f"{{field}} must be one of {', '.join(map(str, choices))}, got {shown}")
    return cls(value)


def _sequence_hook(converter: cattrs.Converter) -> Any:
    def structure(value: object, cls: Any) -> tuple[object, ...]:
        if not isinstance(value, list):
            raise TypeError("{field} must be a list")
        (item_type, *_) = cls.__args__
        errors: list[Exception] = []
        items: list[object] = []
        for index, item in enumerate(value):
            try:
                items.append(converter.structure(item, item_type))
            except Exception as exc:  # collected, as cattrs does, with the index as a note
                note = IterableValidationNote(
                    f"Structuring {cls} @ index {index}", index, item_type
                )
                exc.__notes__ = [*getattr(exc, "__notes__", []), note]
                errors.append(exc)
        if errors:
            raise cattrs.IterableValidationError("invalid items", errors, cls)
        return tuple(items)

    return structure


def _is_settable(cls: Any) -> bool:
    return _Unset in getattr(cls, "__args__", ())


def _settable_hook(converter: cattrs.Converter) -> Any:
    # ``X | _Unset``: a value that was sent is structured as ``X`` (UNSET is only a default).
    def structure(value: object, cls: Any) -> object:
        (kind,) = [arg for arg in cls.__args__ if arg is not _Unset]
        return converter.structure(value, kind)

    return structure


def _structure_new_vm(value: object, _: type) -> NewVm:
    # The spec has its own converter, whose errors carry the JSON path of the bad value.
    return NewVm(spec=structure_spec(value))  # type: ignore[arg-type]


def _string_map(value: object, _: type) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise TypeError("{field} must be an object of strings")
    return dict(value)


def _make_converter() -> cattrs.Converter:
    base = make_converter()
    converter = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
    converter.register_structure_hook(str, _strict(str, "a string"))
    converter.register_structure_hook(int, _strict(int, "an integer"))
    converter.register_structure_hook(float, _strict(float, "a number"))
    converter.register_structure_hook(bool, _strict(bool, "true or false"))
    converter.register_structure_hook(DomainUuid, _uuid_text)
    converter.register_structure_hook_func(_is_settable, _settable_hook(converter))
    for enum_type in (PowerAction, Role):
        converter.register_structure_hook(enum_type, _enum_hook)

    def parse_datetime(value: object, _: type) -> dt.datetime:
        try:
            parsed: dt.datetime = base.structure(value, dt.datetime)
        except (TypeError, ValueError):
            raise ValueError("{field} must be an ISO 8601 date-time") from None
        return parsed

    converter.register_structure_hook(dt.datetime, parse_datetime)
    converter.register_structure_hook(NewVm, _structure_new_vm)
    converter.register_structure_hook(
        DiskAttachment, _attachment(DiskAttachment, "disk", DiskSpec, ("target", "scope"))
    )
    converter.register_structure_hook(
        NicAttachment, _attachment(NicAttachment, "nic", NicSpec, ("scope",))
    )
    converter.register_structure_hook_func(
        lambda cls: getattr(cls, "__origin__", None) is dict, _string_map
    )
    converter.register_structure_hook_func(
        lambda cls: getattr(cls, "__origin__", None) is tuple, _sequence_hook(converter)
    )
    for cls in _CLOSED:
        converter.register_structure_hook(
            cls, cattrs.gen.make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=True)
        )
    return converter


_CONVERTER: Final = _make_converter()


def _message(exc: BaseException, _type: type | None) -> str:
    if isinstance(exc, KeyError):
        return "{field} is required"
    if isinstance(exc, InvalidInputError):
        return exc.message
    if isinstance(exc, TypeError | ValueError) and "{field}" in str(exc):
        return str(exc)
    if isinstance(exc, ValueError) and str(exc):
        return f"{{field}}: {exc}"
    return "{field} has an invalid value"


def _named_field(exc: BaseException) -> str | None:
    # A validator runs in ``__init__``, after cattrs' per-field paths: it names its field.
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc.field if isinstance(exc, InvalidInputError) else None


def structure_request(document: Mapping[str, Any], cls: type[T]) -> T:
    """Return ``document`` (a decoded JSON object) as a ``cls``; else raise a 400.

    The :class:`InvalidInputError`'s ``field`` is the JSON path of the first bad value
    (``domain_uuids[2]``); its message says what was expected there.
    """
    try:
        return _CONVERTER.structure(document, cls)
    except ForbiddenExtraKeysError as exc:
        key = sorted(exc.extra_fields)[0]
        raise InvalidInputError(f"unknown field {key!r}", field=key) from None
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            extra = [e for e in exc.exceptions if isinstance(e, ForbiddenExtraKeysError)]
            if extra:
                key = sorted(extra[0].extra_fields)[0]
                raise InvalidInputError(f"unknown field {key!r}", field=key) from None
            first = transform_error(exc, path="$", format_exception=_message)[0]
        elif isinstance(exc, InvalidInputError) and exc.field is not None:
            raise exc from None  # a validator that named its field
        else:
            first = f"{_message(exc, None)} @ $"
        message, _, path = first.rpartition(" @ ")
        field = path.removeprefix("$").removeprefix(".") or _named_field(exc) or "body"
        raise InvalidInputError(message.replace("{field}", field), field=field) from None
