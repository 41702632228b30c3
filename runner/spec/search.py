"""The fylr-compatible search request (DESIGN section 5): models of every element.

Structure is validated here; field names against a data model in `spec/semantic.py`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Discriminator,
    Field,
    StrictBool,
    StrictStr,
    Tag,
    WithJsonSchema,
    model_validator,
)

from runner.spec.types import STRICT_FROZEN

RELATIVE_DATE = re.compile(
    r"^\$(now|startOfDay|startOfWeek|startOfMonth|startOfYear)((?:[+-][0-9]+[smhdwMy])*)$"
)
RELATIVE_TERM = re.compile(r"([+-])([0-9]+)([smhdwMy])")

BoolOp = Literal["must", "should", "must_not"]
IGNORED_FYLR_KEYS = ("offset", "limit", "format", "generate_rights", "aggregations")


_TERM_DAYS = {"s": 1 / 86400, "m": 1 / 1440, "h": 1 / 24, "d": 1, "w": 7, "M": 31, "y": 366}
MAX_RELATIVE_DAYS = 1_000_000  # about 2,700 years: beyond that, dates overflow


def is_date_string(value: str) -> bool:
    """True for ISO 8601 dates and date-times, and for relative expressions like $now-7d."""
    if RELATIVE_DATE.match(value):
        terms = RELATIVE_TERM.findall(value)
        return sum(int(n) * _TERM_DAYS[unit] for _, n, unit in terms) <= MAX_RELATIVE_DAYS
    try:
        if len(value) == 10:
            date.fromisoformat(value)
        else:
            datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _scalar(value: Any) -> Any:
    if isinstance(value, dict | list):
        raise ValueError("must be a single value (a string, number, boolean or null)")
    return value


def _bound(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("must be a number, an ISO 8601 date or a relative date such as $now-7d")
    if isinstance(value, str) and RELATIVE_DATE.match(value) and not is_date_string(value):
        raise ValueError(f"{value!r} reaches too far: keep relative dates within 2,700 years")
    if isinstance(value, str) and not is_date_string(value):
        raise ValueError(
            f"{value!r} is not a date: write an ISO 8601 date ('2026-01-31', "
            "'2026-01-31T12:00:00+01:00') or a relative date ('$now-7d', '$startOfMonth')"
        )
    return value


Scalar = Annotated[
    Any,
    AfterValidator(_scalar),
    WithJsonSchema({"type": ["string", "number", "boolean", "null"]}),
]
Bound = Annotated[
    Any,
    AfterValidator(_bound),
    WithJsonSchema({"type": ["string", "number"]}),
]
FieldName = Annotated[StrictStr, Field(min_length=1)]


class _Element(BaseModel):
    model_config = STRICT_FROZEN
    bool_: BoolOp = Field("must", alias="bool")


class InElement(_Element):
    """Any of the record's values for any listed field equals any listed value."""

    type: Literal["in"]
    fields: list[FieldName] = Field(min_length=1)
    in_: list[Scalar] = Field(alias="in", min_length=1)


class MatchElement(_Element):
    """Words, whole tokens or wildcards in text fields; case-insensitive, no stemming."""

    type: Literal["match", "text"]
    fields: list[FieldName] | None = None
    string: StrictStr = Field(min_length=1)
    mode: Literal["fulltext", "token", "wildcard"] = "fulltext"
    phrase: StrictBool = False


class RangeElement(_Element):
    """Inclusive bounds on a date or number field; either bound may be missing."""

    type: Literal["range"]
    field: FieldName
    from_: Bound | None = Field(None, alias="from")
    to: Bound | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> RangeElement:
        if self.from_ is None and self.to is None:
            raise ValueError("a range needs 'from', 'to' or both")
        return self


class ChangelogRangeElement(_Element):
    """Objects with a changelog entry in a time range, optionally of one operation or user."""

    type: Literal["changelog_range"]
    from_: Bound | None = Field(None, alias="from")
    to: Bound | None = None
    operation: Literal["insert", "update"] | None = None
    user: StrictStr | None = None


class ComplexElement(_Element):
    """A nested list, evaluated with the same rules: builds (A and B) or C."""

    type: Literal["complex"]
    search: list[SearchElement] = Field(default_factory=list)


def _element_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("type")
        kind = "match" if kind == "text" else kind
        return f"type={kind}" if isinstance(kind, str) else None
    kind = getattr(value, "type", None)
    return f"type={'match' if kind == 'text' else kind}"


SearchElement = Annotated[
    Annotated[InElement, Tag("type=in")]
    | Annotated[MatchElement, Tag("type=match")]
    | Annotated[RangeElement, Tag("type=range")]
    | Annotated[ComplexElement, Tag("type=complex")]
    | Annotated[ChangelogRangeElement, Tag("type=changelog_range")],
    Discriminator(
        _element_tag,
        custom_error_type="element_type",
        custom_error_message=(
            "unknown search element type; use one of: in, match, text, range, complex, "
            "changelog_range"
        ),
    ),
]
ELEMENT_TYPES = ("in", "match", "text", "range", "complex", "changelog_range")

ComplexElement.model_rebuild()


class SortItem(BaseModel):
    model_config = STRICT_FROZEN
    field: FieldName
    order: Literal["ASC", "DESC"] = "ASC"


class SearchRequest(BaseModel):
    """A fylr search request; fylr's paging and output keys are accepted and ignored."""

    model_config = STRICT_FROZEN
    objecttypes: list[FieldName] = Field(default_factory=list)
    search: list[SearchElement] = Field(default_factory=list)
    sort: list[SortItem] = Field(default_factory=list)
    include_deleted: StrictBool = False
    incremental: StrictBool = False
    offset: Any = Field(None, json_schema_extra={"deprecated": True})
    limit: Any = Field(None, json_schema_extra={"deprecated": True})
    format: Any = Field(None, json_schema_extra={"deprecated": True})
    generate_rights: Any = Field(None, json_schema_extra={"deprecated": True})
    aggregations: Any = Field(None, json_schema_extra={"deprecated": True})
