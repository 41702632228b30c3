"""The data-driven corpus of `runner check` (STYLE 8): adding a file adds a test.

- `tests/data/valid/**/*.yaml|yml`: task files that pass, even with `--strict`.
- `tests/data/invalid/**/NAME.yaml|yml` beside `NAME.expect`: the problem the file must report.
  A file named `runner.yaml` or `datamodel.yaml` (in `invalid/config/CASE/` and
  `invalid/datamodel/CASE/`) is checked as such and reported with `task: null`. Files under
  `invalid/companions/` are not cases; an expectation lists them under `before`.
- `HOSTILE` below: inputs that cannot sensibly be committed (huge, binary, not UTF-8, deeply
  nested, a directory named x.yaml, an unreadable file...), generated into a temporary directory.

An expectation: `line`, `column` (1-based), a `message` fragment, optionally `loc` (exact),
`severity: warning` with `strict: true` (the file passes, and fails with --strict), `before`
(companion files checked first, in the same run) and `also` (more problems the same file reports).

The real CLI runs in a subprocess, against `tests/data/runner.yaml` and its data model. A start
costs most of a second, so the cases of a group share one run (cached for the session) and each
case asserts on its own entry of that run's JSON: exit 1 can only come from error entries and
exit 0 only from none, so a group's exit code holds for each of its files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from runner.spec.yamlsafe import MAX_DEPTH, load

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
CONFIG = DATA / "runner.yaml"
VALID = DATA / "valid"
INVALID = DATA / "invalid"
SUFFIXES = (".yaml", ".yml")
EXPECT_KEYS = {"line", "column", "message", "loc", "severity", "strict", "before", "also"}
NOT_TASKS = ("runner.yaml", "datamodel.yaml")


@dataclass(frozen=True)
class Run:
    code: int
    report: dict[str, Any]
    err: str

    def entry(self, path: Path) -> dict[str, Any]:
        wanted = os.path.normpath(path)
        for item in self.report["files"]:
            if os.path.normpath(ROOT / item["path"]) == wanted:
                return item
        raise AssertionError(
            f"{path} is not in the report: {[f['path'] for f in self.report['files']]}"
        )


def run_check(paths: list[Path], *, strict: bool = False) -> Run:
    """`runner check --format json` in a subprocess, with paths relative to the repository."""
    shown = [os.path.relpath(p, ROOT) if p.is_relative_to(ROOT) else str(p) for p in paths]
    args = ["check", "--format", "json", "--config", str(CONFIG), *shown]
    args += ["--strict"] if strict else []
    env = {k: v for k, v in os.environ.items() if k != "RUNNER_CONFIG"} | {"NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,  # a hang (say, on a FIFO) fails instead of blocking the suite
    )
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    assert done.stdout, f"no output (exit {done.returncode}): {done.stderr}"
    return Run(done.returncode, json.loads(done.stdout), done.stderr)


# --- the committed corpus ---------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    path: Path
    expect: dict[str, Any]

    @property
    def id(self) -> str:
        return self.path.relative_to(INVALID).with_suffix("").as_posix()

    @property
    def warning(self) -> bool:
        return self.expect.get("severity", "error") == "warning"

    @property
    def before(self) -> list[Path]:
        return [INVALID / name for name in self.expect.get("before", [])]

    @property
    def task(self) -> str | None:
        return None if self.path.name in NOT_TASKS else self.path.stem


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.suffix in SUFFIXES and p.is_file())


def _cases() -> list[Case]:
    cases = []
    for path in _yaml_files(INVALID):
        expect_file = path.with_suffix(".expect")
        if expect_file.is_file():
            expect, _ = load(expect_file.read_text(encoding="utf-8"))
            cases.append(Case(path, expect))
    return cases


VALID_FILES = _yaml_files(VALID)
CASES = _cases()
ERROR_CASES = [c for c in CASES if not c.warning]
WARNING_CASES = [c for c in CASES if c.warning]


def test_the_corpus_is_complete():
    """Every invalid file has its expectation and every expectation its one file."""
    assert len(VALID_FILES) >= 10 and len(ERROR_CASES) >= 40
    companions = INVALID / "companions"
    for path in _yaml_files(INVALID):
        if not path.is_relative_to(companions):
            assert path.with_suffix(".expect").is_file(), f"{path} has no .expect beside it"
    for expect_file in sorted(INVALID.rglob("*.expect")):
        owners = [
            expect_file.with_suffix(s) for s in SUFFIXES if expect_file.with_suffix(s).is_file()
        ]
        assert len(owners) == 1, f"{expect_file} needs exactly one .yaml or .yml beside it"
    for case in CASES:
        assert {"line", "column", "message"} <= case.expect.keys() <= EXPECT_KEYS, case.id
        assert case.expect.get("severity", "error") in ("error", "warning"), case.id
        assert all(p.is_file() for p in case.before), case.id
    modules = {load(p.read_text(encoding="utf-8"))[0]["module"] for p in VALID_FILES}
    assert modules == {"delete_objects", "metadata", "search", "set_unset_tags"}


@cache
def valid_run() -> Run:
    return run_check(VALID_FILES, strict=True)


@cache
def error_run() -> Run:
    before = [p for case in ERROR_CASES for p in case.before]
    return run_check([*before, *(case.path for case in ERROR_CASES)])


@cache
def warning_run(strict: bool) -> Run:
    return run_check([case.path for case in WARNING_CASES], strict=strict)


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda p: p.relative_to(VALID).as_posix())
def test_valid_file_passes_strict(path):
    run = valid_run()
    entry = run.entry(path)
    assert entry["errors"] == [] and entry["warnings"] == [], entry
    assert entry["task"] == path.relative_to(VALID).with_suffix("").as_posix()
    assert run.code == 0 and run.report["valid"] is True


def _find(entry: dict[str, Any], wanted: dict[str, Any], severity: str) -> None:
    found = entry["errors" if severity == "error" else "warnings"]
    for item in found:
        where = (item["line"], item["column"]) == (wanted["line"], wanted["column"])
        loc = wanted.get("loc", item["loc"]) == item["loc"]
        if where and loc and wanted["message"] in item["message"]:
            return
    pytest.fail(
        f"no {severity} at {wanted['line']}:{wanted['column']} [{wanted.get('loc', '*')}] "
        f"containing {wanted['message']!r}; found {json.dumps(found, indent=1)}"
    )


def _assert_expected(run: Run, case: Case, severity: str) -> None:
    entry = run.entry(case.path)
    assert entry["task"] == case.task
    _find(entry, case.expect, severity)
    for more in case.expect.get("also", []):
        _find(entry, more, more.get("severity", severity))


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.id)
def test_invalid_file_reports_the_expected_error(case):
    run = error_run()
    assert run.code == 1 and run.report["valid"] is False
    _assert_expected(run, case, "error")


@pytest.mark.parametrize("case", WARNING_CASES, ids=lambda c: c.id)
def test_warning_passes_and_fails_with_strict(case):
    run = warning_run(strict=False)
    assert run.code == 0 and run.report["valid"] is True
    assert run.entry(case.path)["errors"] == []
    _assert_expected(run, case, "warning")
    if case.expect.get("strict"):
        strict = warning_run(strict=True)
        assert strict.code == 1 and strict.report["valid"] is False
        _assert_expected(strict, case, "warning")


# --- hostile input, generated -----------------------------------------------------------------

TASK = (
    "version: 1\ndescription: x\nmodule: search\nrun_as: editor\nsearch:\n  objecttypes: [images]\n"
)


def _write(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _deep_complex(path: Path) -> None:
    """Nested `complex` elements: the YAML depth cap stops them.

    Level k's `search` list opens at line 7 + 2k, column 4k + 5, as container number 3 + 2k
    (after the root mapping and `search:`); the one over the cap is level (MAX_DEPTH - 2) / 2.
    """
    lines = ["version: 1", "description: x", "module: search", "run_as: editor", "search:"]
    lines.append("  search:")
    for level in range(40):
        indent = "  " * (2 * level + 2)
        lines += [f"{indent}- type: complex", f"{indent}  search:"]
    path.write_text("\n".join(lines) + "\n")


def _directory(path: Path) -> None:
    path.mkdir()
    (path / "inner.yaml").write_text(TASK)


def _unreadable(path: Path) -> None:
    path.write_text(TASK)
    path.chmod(0)


def _symlink_loop(path: Path) -> None:
    path.symlink_to(path.name)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


@dataclass(frozen=True)
class Hostile:
    name: str
    make: Callable[[Path], None]
    line: int
    column: int
    message: str


HOSTILE = [
    Hostile(
        "huge.yaml", _write(TASK.encode() + b"#" * (1024 * 1024)), 1, 1, "larger than 1024 KiB"
    ),
    Hostile("binary.yaml", _write(bytes(range(256)) * 8), 1, 1, "not a text file"),
    Hostile("nul-byte.yaml", _write(TASK.encode() + b"\x00\n"), 1, 1, "contains NUL bytes"),
    Hostile(
        "latin-1.yaml",
        _write(TASK.replace("x", "caf\xe9").encode("latin-1")),
        1,
        1,
        "not valid UTF-8 text (first invalid byte at line 2, column 17)",
    ),
    Hostile("utf-16.yaml", _write(TASK.encode("utf-16")), 1, 1, "UTF-16 or UTF-32 encoded"),
    Hostile(
        "control-character.yaml",
        _write(TASK.replace("x", "a\x1b[31mb").encode()),
        2,
        15,
        "control character U+001B is not allowed",
    ),
    Hostile(
        "deeply-nested.yaml",
        _write(b"a: " + b"[" * 500 + b"]" * 500 + b"\n"),
        1,
        3 + MAX_DEPTH,  # the root mapping and 63 lists fit; the 64th list does not
        f"nesting deeper than {MAX_DEPTH} levels",
    ),
    Hostile(
        "deep-complex.yaml",
        _deep_complex,
        7 + 2 * ((MAX_DEPTH - 2) // 2),
        4 * ((MAX_DEPTH - 2) // 2) + 5,
        f"nesting deeper than {MAX_DEPTH} levels",
    ),
    Hostile("directory.yaml", _directory, 1, 1, "is a directory, not a file"),
    Hostile("symlink-loop.yaml", _symlink_loop, 1, 1, "cannot read the file"),
    Hostile("dangling.yaml", lambda p: p.symlink_to("nowhere.yaml"), 1, 1, "does not exist"),
    Hostile("fifo.yaml", _fifo, 1, 1, "is not a regular file"),
    Hostile("unreadable.yaml", _unreadable, 1, 1, "cannot read the file: Permission denied"),
]


def _readable_anyway() -> bool:
    """root reads a mode-000 file: the unreadable case cannot be made."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(scope="session")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run]:
    directory = tmp_path_factory.mktemp("hostile")
    cases = [h for h in HOSTILE if not (h.name == "unreadable.yaml" and _readable_anyway())]
    for hostile in cases:
        hostile.make(directory / hostile.name)
    try:
        return directory, run_check([directory / h.name for h in cases])
    finally:
        for path in directory.iterdir():
            if not path.is_symlink():
                path.chmod(0o755)


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda h: h.name)
def test_hostile_input_is_an_error_not_a_crash(hostile, hostile_run):
    if hostile.name == "unreadable.yaml" and _readable_anyway():
        pytest.skip("running as root, which can read a file with mode 000")
    directory, run = hostile_run
    assert run.code == 1 and run.report["valid"] is False
    entry = run.entry(directory / hostile.name)
    assert entry["task"] == Path(hostile.name).stem
    wanted = {"line": hostile.line, "column": hostile.column, "message": hostile.message}
    _find(entry, wanted, "error")


@pytest.mark.parametrize("name", ["alias-bomb.yaml", "huge.yaml"])
def test_hostile_input_fails_fast(name, tmp_path):
    """Timed inside the process, where start-up costs nothing: refusing is not expanding."""
    from runner.commands.check import check
    from runner.commands.config import load_workspace

    path = INVALID / name
    if name == "huge.yaml":
        path = tmp_path / name
        path.write_bytes(TASK.encode() + b"# padding\n" * 200_000)
    workspace = load_workspace(str(CONFIG), ROOT)
    start = time.perf_counter()
    result = check(workspace, [str(path)], now=datetime.now(UTC), cwd=ROOT)
    elapsed = time.perf_counter() - start
    assert result.error_count == 1
    assert elapsed < 2.0, f"{name} took {elapsed:.2f}s"
