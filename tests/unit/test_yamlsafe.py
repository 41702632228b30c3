"""The safe YAML loader (runner/spec/yamlsafe.py): YAML 1.2 core schema, refusals, caps, and the
promise that both parsers (C and pure Python), with and without positions, give the same values."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from runner.spec.yamlsafe import MAX_BYTES, MAX_DEPTH, YamlSyntaxError, decode, has_c_parser, load

ROOT = Path(__file__).resolve().parents[2]
MODES = [
    pytest.param({}, id="c"),
    pytest.param({"positions": True}, id="c-positions"),
    pytest.param({"pure": True}, id="pure"),
    pytest.param({"pure": True, "positions": True}, id="pure-positions"),
]


def value(text: str, **mode: Any) -> Any:
    return load(text, **mode)[0]


def refused(text: str, **mode: Any) -> YamlSyntaxError:
    with pytest.raises(YamlSyntaxError) as info:
        load(text, **mode)
    return info.value


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types (True is not 1), keys in the same order; NaN equals NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def test_same_is_strict_about_types_and_safe_with_nan():
    assert same({"a": [float("nan"), 1]}, {"a": [float("nan"), 1]})
    assert not same({"a": True}, {"a": 1})
    assert not same({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert not same([1.0], [1])


# --- YAML 1.2 core schema ------------------------------------------------------------------------

CORE_SCHEMA = [
    ("yes", "yes"),
    ("no", "no"),
    ("on", "on"),
    ("off", "off"),
    ("Yes", "Yes"),
    ("y", "y"),
    ("N", "N"),
    ("tRUE", "tRUE"),
    ("true", True),
    ("True", True),
    ("FALSE", False),
    ("~", None),
    ("null", None),
    ("NULL", None),
    ("", None),
    ("0o17", 15),
    ("0x1F", 31),
    ("0x1f", 31),
    ("0O17", "0O17"),
    ("-0x1F", "-0x1F"),
    ("0b101", "0b101"),
    ("010", 10),
    ("+1", 1),
    ("-0", 0),
    ("1_000", "1_000"),
    ("12:30", "12:30"),
    ("1.5", 1.5),
    (".5", 0.5),
    ("1.", 1.0),
    ("1e3", 1000.0),
    ("-2.5E-1", -0.25),
    ("1e", "1e"),
    (".inf", math.inf),
    ("-.Inf", -math.inf),
    ("+.INF", math.inf),
    (".inf.", ".inf."),
    ("2026-01-31", "2026-01-31"),
    ("2026-01-31T12:00:00+01:00", "2026-01-31T12:00:00+01:00"),
    ("$now-7d", "$now-7d"),
    ('"true"', "true"),
    ("'0x1F'", "0x1F"),
    ("! 12", "12"),
    ("! true", "true"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("written", "expected"), CORE_SCHEMA, ids=[w or "empty" for w, _ in CORE_SCHEMA]
)
def test_core_schema_resolution(written, expected, mode):
    assert same(value(f"a: {written}\n", **mode), {"a": expected})


@pytest.mark.parametrize("mode", MODES)
def test_nan(mode):
    for written in (".nan", ".NaN", ".NAN"):
        assert math.isnan(value(f"a: {written}", **mode)["a"])


@pytest.mark.parametrize("mode", MODES)
def test_block_scalars_stay_strings(mode):
    assert value("a: |\n  12\nb: >-\n  yes\n  no\n", **mode) == {"a": "12\n", "b": "yes no"}


@pytest.mark.parametrize("mode", MODES)
def test_empty_and_comment_only_documents_are_none(mode):
    for text in ("", "# nothing\n", "---\n...\n", "~\n", "   \n\n"):
        assert value(text, **mode) is None


# --- refusals ------------------------------------------------------------------------------------

TAGS = [
    ("a: !!str 12", 1, 4, "!!str"),
    ("a: !!python/object/apply:os.system ['true']", 1, 4, "!!python/object/apply:os.system"),
    ("!!python/name:os.system\n", 1, 1, "!!python/name:os.system"),
    ("a: !include other.yaml", 1, 4, "!include"),
    ("a: !!map {b: 1}", 1, 4, "!!map"),
    ("a:\n  - !!seq [1]", 2, 5, "!!seq"),
    ("a: ! [1]", 1, 4, "!"),
    ("a: !<tag:yaml.org,2002:str> b", 1, 4, "!!str"),
    ("%TAG !e! tag:example.com,2000:\n---\na: !e!thing b", 3, 4, "tag:example.com,2000:thing"),
    ("!!set\n? a\n", 1, 1, "!!set"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("text", "line", "column", "tag"), TAGS, ids=[t[3] for t in TAGS])
def test_tags_are_refused_where_they_are(text, line, column, tag, mode):
    error = refused(text, **mode)
    assert error.message == f"YAML tags are not allowed (found '{tag}')"
    assert (error.line, error.column) == (line, column)


@pytest.mark.parametrize("mode", MODES)
def test_anchors_and_aliases_are_refused(mode):
    error = refused("a: &x 1\nb: *x\n", **mode)
    assert "anchors are not allowed (found '&x')" in error.message
    assert (error.line, error.column) == (1, 4)
    error = refused("a: 1\nb: *x\n", **mode)
    assert "aliases are not allowed (found '*x')" in error.message
    assert (error.line, error.column) == (2, 4)
    error = refused("base: &b {x: 1}\nother:\n  <<: *b\n", **mode)
    assert (error.line, error.column) == (1, 7)


@pytest.mark.parametrize("mode", MODES)
def test_an_alias_bomb_is_refused_at_its_first_anchor(mode):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefghijklmnopqrstuvwxy", "bcdefghijklmnopqrstuvwxyz", strict=True):
        lines.append(f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]")
    error = refused("\n".join(lines), **mode)
    assert (error.line, error.column) == (1, 4)


DUPLICATES = [
    ("a: 1\nb: 2\na: 3\n", 3, 1, "a"),
    ("x:\n  a: 1\n  a: 2\n", 3, 3, "a"),
    ("x: {a: 1, a: 2}\n", 1, 11, "a"),
    ("- {k: 1}\n- {k: 1, k: 2}\n", 2, 10, "k"),
    ('a: 1\n"a": 2\n', 2, 1, "a"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("text", "line", "column", "key"), DUPLICATES)
def test_duplicate_keys_point_at_the_second_occurrence(text, line, column, key, mode):
    error = refused(text, **mode)
    assert error.message == f"duplicate key '{key}'"
    assert (error.line, error.column) == (line, column)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("text", "shown"),
    [("1: a", "1"), ("true: a", "True"), ("1.5: a", "1.5"), ("? [a]\n: b", "a mapping or list")],
)
def test_keys_must_be_strings(text, shown, mode):
    error = refused(text, **mode)
    assert error.message == f"mapping keys must be strings, found {shown}"


@pytest.mark.parametrize("mode", MODES)
def test_one_document_per_file(mode):
    assert value("---\na: 1\n...\n", **mode) == {"a": 1}
    error = refused("a: 1\n---\nb: 2\n", **mode)
    assert "one YAML document" in error.message
    assert (error.line, error.column) == (2, 1)


@pytest.mark.parametrize("mode", MODES)
def test_nesting_is_capped(mode):
    fits = "[" * (MAX_DEPTH) + "]" * MAX_DEPTH
    assert value(fits, **mode) is not None
    error = refused("a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH, **mode)
    assert error.message == f"nesting deeper than {MAX_DEPTH} levels"
    assert (error.line, error.column) == (1, 3 + MAX_DEPTH)
    deep_mapping = "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5))
    assert refused(deep_mapping, **mode).line == MAX_DEPTH + 1


@pytest.mark.parametrize("mode", MODES)
def test_size_is_capped_before_parsing(mode):
    at_cap = "a: 1\n#" + "x" * (MAX_BYTES - 7) + "\n"
    assert len(at_cap.encode()) == MAX_BYTES
    if not mode.get("pure"):  # the pure parser takes a second over a MiB
        assert value(at_cap, **mode) == {"a": 1}
    error = refused(at_cap + "#", **mode)
    assert "larger than" in error.message and (error.line, error.column) == (1, 1)
    multibyte = "a: " + "\u00e9" * (MAX_BYTES // 2)  # fewer characters than bytes
    assert "larger than" in refused(multibyte, **mode).message


@pytest.mark.parametrize("mode", MODES)
def test_control_characters_are_refused_with_their_position(mode):
    for text, line, column in (("a: \x00", 1, 4), ("a: 1\nb: x\x07y\n", 2, 5), ("\x1b: 1", 1, 1)):
        error = refused(text, **mode)
        assert "control character U+" in error.message
        assert (error.line, error.column) == (line, column)


@pytest.mark.parametrize("mode", MODES)
def test_a_byte_order_mark_is_accepted(mode):
    assert value("\ufeffa: 1\n", **mode) == {"a": 1}


@pytest.mark.parametrize("mode", MODES)
def test_syntax_errors_have_positions(mode):
    error = refused("a: 1\nb: [1, 2\nc: 3\n", **mode)
    assert error.message.startswith("YAML syntax error: ")
    assert error.line == 3


# --- decoding bytes ------------------------------------------------------------------------------


def test_decode_accepts_utf8_and_strips_a_byte_order_mark():
    assert decode("\ufeffa: caf\u00e9\n".encode()) == "a: caf\u00e9\n"


def test_decode_refuses_nul_bytes_and_binary():
    for data in (b"a: 1\x00\n", bytes(range(256))):
        with pytest.raises(YamlSyntaxError, match="NUL bytes") as info:
            decode(data)
        assert (info.value.line, info.value.column) == (1, 1)


def test_decode_refuses_other_encodings_at_the_top_of_the_file():
    with pytest.raises(YamlSyntaxError) as info:
        decode("a: 1\nb: caf\u00e9\n".encode("latin-1"))
    assert (info.value.line, info.value.column) == (1, 1)
    assert "not valid UTF-8 text (first invalid byte at line 2, column 7)" in info.value.message
    for encoding in ("utf-16", "utf-32"):
        with pytest.raises(YamlSyntaxError, match="UTF-16 or UTF-32"):
            decode("a: 1\n".encode(encoding))


def test_decode_refuses_more_than_the_cap():
    assert decode(b"#" * MAX_BYTES) == "#" * MAX_BYTES
    with pytest.raises(YamlSyntaxError, match="larger than"):
        decode(b"#" * (MAX_BYTES + 1))


# --- positions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("pure", [False, True])
def test_positions_of_values_and_keys(pure):
    text = "a:\n  b: [1, {c: x}]\n  d:\n    - 2\n"
    data, positions = load(text, positions=True, pure=pure)
    assert data == {"a": {"b": [1, {"c": "x"}], "d": [2]}}
    assert positions is not None
    assert positions.of_value(()) == (1, 1)
    assert positions.of_key(("a", "b")) == (2, 3)
    assert positions.of_value(("a", "b")) == (2, 6)
    assert positions.of_value(("a", "b", 1, "c")) == (2, 14)
    assert positions.of_key(("a", "b", 1, "c")) == (2, 11)
    assert positions.of_value(("a", "d", 0)) == (4, 7)
    assert positions.of_value(("a", "b", 7, "missing")) == (2, 6)  # the nearest that exists
    assert load(text)[1] is None


# --- both parsers, both modes, one value ---------------------------------------------------------


def _yaml_files() -> list[Path]:
    data = ROOT / "tests" / "data"
    files = [p for p in data.rglob("*") if p.suffix in (".yaml", ".yml", ".expect")]
    files += [*(ROOT / "tasks.d").rglob("*.yaml"), ROOT / "runner.yaml", ROOT / "datamodel.yaml"]
    return sorted(p for p in files if p.is_file())


def _outcome(text: str, **mode: Any) -> tuple[str, Any]:
    try:
        return "ok", load(text, **mode)
    except YamlSyntaxError as error:
        return "refused", error


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_parsers_and_modes_agree(path):
    try:
        text = decode(path.read_bytes())
    except YamlSyntaxError:
        pytest.skip("not text")
    outcomes = [_outcome(text, **m.values[0]) for m in MODES]
    kinds = {kind for kind, _ in outcomes}
    assert len(kinds) == 1, f"{path}: accepted by some parsers only: {outcomes}"
    if kinds == {"refused"}:
        return
    values = [result[0] for _, result in outcomes]
    for other in values[1:]:
        assert same(values[0], other), path
    (_, (_, c_positions)), (_, (_, pure_positions)) = outcomes[1], outcomes[3]
    assert c_positions == pure_positions


def test_the_c_parser_is_there_where_it_can_be():
    import platform

    if platform.python_implementation() == "CPython":
        assert has_c_parser(), "ruamel.yaml.clib is a dependency on CPython"
