"""Safe YAML 1.2 loading with positions.

Design notes:
- We build plain values from ruamel.yaml's *event stream* ourselves instead of using a
  constructor, so that nothing a file says can create Python objects: explicit tags, anchors
  and aliases are refused at the event that introduces them (an alias bomb fails on its first
  anchor, in microseconds), nesting is capped, and the input size is capped before parsing.
- Plain scalars are resolved with the YAML 1.2 core schema (`on`/`yes` stay strings,
  timestamps stay strings and are parsed by the models that expect them).
- The C parser (ruamel.yaml.clib) is used when available. Positions are recorded only when
  asked for: `runner check` parses without them and parses again with them only for a file that
  has errors. Both parsers and both modes produce the same values (a test checks it).
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")

Path = tuple[str | int, ...]

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")


class YamlSyntaxError(Exception):
    """The file is not acceptable YAML; line and column are 1-based."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass
class Positions:
    """Where each value (and each mapping key) starts, by its path from the root."""

    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def of_value(self, path: Path) -> tuple[int, int]:
        """The value at `path`, else the nearest enclosing value that exists."""
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found:
                return found
        return (1, 1)

    def of_key(self, path: Path) -> tuple[int, int]:
        return self.keys.get(path) or self.of_value(path)


@lru_cache(maxsize=1)
def has_c_parser() -> bool:
    try:
        from ruamel.yaml.cyaml import CParser  # type: ignore[attr-defined]  # noqa: F401
    except ImportError:
        return False
    return True


def decode(data: bytes) -> str:
    """Bytes to text, refusing what is not a UTF-8 text file."""
    if len(data) > MAX_BYTES:
        raise YamlSyntaxError(f"file is larger than {MAX_BYTES // 1024} KiB")
    if data.startswith(_UTF16_32_BOMS):
        raise YamlSyntaxError("the file is UTF-16 or UTF-32 encoded; save it as UTF-8")
    if b"\x00" in data:
        raise YamlSyntaxError("not a text file (it contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The whole file is in the wrong encoding, so the error is at 1:1 (DESIGN section 11);
        # the first bad byte is named to help find it.
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlSyntaxError(
            f"not valid UTF-8 text (first invalid byte at line {line}, column {column}); "
            "save the file as UTF-8"
        ) from None
    return text.removeprefix("\ufeff")


def load(text: str, *, positions: bool = False, pure: bool = False) -> tuple[Any, Positions | None]:
    """Parse one YAML document into plain values (dict, list, str, int, float, bool, None).

    An empty document gives None. Raises YamlSyntaxError with a 1-based position.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlSyntaxError(f"file is larger than {MAX_BYTES // 1024} KiB")
    builder = _Builder(Positions() if positions else None)
    events = _events(text, pure=pure or not has_c_parser())
    try:
        builder.run(events)
    except ReaderError as exc:
        raise _unacceptable_character(text, exc) from None
    except UnicodeEncodeError:
        raise YamlSyntaxError("not valid UTF-8 text (it holds a lone surrogate)") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlSyntaxError(f"YAML syntax error: {problem}", line, column) from None
    except YAMLError as exc:
        raise YamlSyntaxError(f"YAML error: {exc}") from None
    finally:
        events.close()  # resets the shared pure parser when the builder stopped it early
    return builder.result, builder.positions


def _unacceptable_character(text: str, exc: ReaderError) -> YamlSyntaxError:
    """A control character: located by searching the text, since the C and pure parsers count
    `position` differently (bytes or characters)."""
    code = exc.character if isinstance(exc.character, int) else 0
    index = max(text.find(chr(code)), 0)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    what = "control character" if unicodedata.category(chr(code)) == "Cc" else "character"
    return YamlSyntaxError(f"{what} U+{code:04X} is not allowed in YAML", line, column)


def _events(text: str, *, pure: bool) -> Generator[Any, None, None]:
    if pure:
        yield from _pure_yaml().parse(io.StringIO(text))
        return
    from ruamel.yaml.cyaml import CParser  # type: ignore[attr-defined]

    parser = CParser(text)
    while True:
        event = parser.get_event()
        yield event
        if type(event).__name__ == "StreamEndEvent":
            return


@lru_cache(maxsize=1)
def _pure_yaml() -> YAML:
    return YAML(typ="safe", pure=True)


_MAYBE_NOT_STRING = frozenset("~nNtTfF0123456789+-.")


def resolve_plain(value: str) -> Any:
    """The YAML 1.2 core schema for an untagged plain scalar."""
    if value and value[0] not in _MAYBE_NOT_STRING:
        return value
    if _NULL.match(value):
        return None
    if value in _BOOL:
        return _BOOL[value]
    if _INT10.match(value):
        return int(value)
    if _INT8.match(value):
        return int(value[2:], 8)
    if _INT16.match(value):
        return int(value[2:], 16)
    if _FLOAT.match(value):
        return float(value)
    if _INF.match(value):
        return float("-inf") if value.startswith("-") else float("inf")
    if _NAN.match(value):
        return float("nan")
    return value


def _at(event: Any) -> tuple[int, int]:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1)


class _Builder:
    """Turns parse events into values; one container frame per open mapping or sequence."""

    def __init__(self, positions: Positions | None) -> None:
        self.positions = positions
        self.result: Any = None
        self.documents = 0
        self._stack: list[_Frame] = []
        self._handlers: dict[str, Callable[[Any], None]] = {
            "ScalarEvent": self._scalar,
            "MappingStartEvent": self._mapping_start,
            "SequenceStartEvent": self._sequence_start,
            "MappingEndEvent": self._end,
            "SequenceEndEvent": self._end,
            "AliasEvent": self._alias,
            "DocumentStartEvent": self._document_start,
        }

    def run(self, events: Iterator[Any]) -> None:
        handlers = self._handlers
        for event in events:
            handler = handlers.get(type(event).__name__)
            if handler is not None:
                handler(event)

    def _document_start(self, event: Any) -> None:
        self.documents += 1
        if self.documents > 1:
            line, column = _at(event)
            raise YamlSyntaxError(
                "a file holds one YAML document; found a second one", line, column
            )

    def _alias(self, event: Any) -> None:
        line, column = _at(event)
        raise YamlSyntaxError(
            f"YAML aliases are not allowed (found '*{event.anchor}'); write the value out",
            line,
            column,
        )

    def _refuse_tag_or_anchor(self, event: Any) -> None:
        line, column = _at(event)
        if event.anchor is not None:
            raise YamlSyntaxError(
                f"YAML anchors are not allowed (found '&{event.anchor}'); write the value out",
                line,
                column,
            )
        tag = event.tag
        if tag is not None and not (tag == "!" and type(event).__name__ == "ScalarEvent"):
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            raise YamlSyntaxError(f"YAML tags are not allowed (found '{shown}')", line, column)

    def _scalar(self, event: Any) -> None:
        if event.tag is not None or event.anchor is not None:
            self._refuse_tag_or_anchor(event)
        # Quoted, block, or with the non-specific tag `!` (YAML 1.2: `! 12` is the string '12').
        plain = event.style in (None, "") and event.tag is None
        self._add(resolve_plain(event.value) if plain else event.value, event)

    def _mapping_start(self, event: Any) -> None:
        if event.tag is not None or event.anchor is not None:
            self._refuse_tag_or_anchor(event)
        self._open({}, event)

    def _sequence_start(self, event: Any) -> None:
        if event.tag is not None or event.anchor is not None:
            self._refuse_tag_or_anchor(event)
        self._open([], event)

    def _open(self, container: Any, event: Any) -> None:
        if len(self._stack) >= MAX_DEPTH:
            line, column = _at(event)
            raise YamlSyntaxError(f"nesting deeper than {MAX_DEPTH} levels", line, column)
        path = self._add(container, event)
        self._stack.append(_Frame(container, path))

    def _end(self, event: Any) -> None:
        frame = self._stack.pop()
        if frame.key is not _NO_KEY:
            raise YamlSyntaxError("mapping key without a value", *_at(event))

    def _add(self, value: Any, event: Any) -> Path:
        """Attach a value to the open container (or make it the document); return its path."""
        if not self._stack:
            self.result = value
            if self.positions is not None:
                self.positions.values[()] = _at(event)
            return ()
        frame = self._stack[-1]
        container = frame.container
        if type(container) is list:
            path = (*frame.path, len(container)) if self.positions is not None else ()
            container.append(value)
        elif frame.key is _NO_KEY:
            self._take_key(frame, value, event)
            return ()
        else:
            key = frame.key
            frame.key = _NO_KEY
            path = (*frame.path, key) if self.positions is not None else ()
            container[key] = value
        if self.positions is not None:
            self.positions.values[path] = _at(event)
        return path

    def _take_key(self, frame: _Frame, key: Any, event: Any) -> None:
        if type(key) is not str:
            line, column = _at(event)
            shown = "a mapping or list" if isinstance(key, dict | list) else repr(key)
            raise YamlSyntaxError(f"mapping keys must be strings, found {shown}", line, column)
        if key in frame.container:
            line, column = _at(event)
            raise YamlSyntaxError(f"duplicate key '{key}'", line, column)
        frame.key = key
        if self.positions is not None:
            self.positions.keys[(*frame.path, key)] = _at(event)


_NO_KEY: Any = object()


class _Frame:
    __slots__ = ("container", "key", "path")

    def __init__(self, container: Any, path: Path) -> None:
        self.container = container
        self.path = path
        self.key: Any = _NO_KEY
