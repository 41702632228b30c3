"""The README's search examples, after `runner store seed --objects 1000`, return the right
records for each user: the CLI's answer equals the plain in-Python evaluation of the request
over the exported records (tests/unit/store_reference.py), rights included."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner.spec.files import load_datamodel_file
from runner.spec.search import SearchRequest
from runner.spec.yamlsafe import load
from tests.conftest import ROOT, run_cli
from tests.unit.store_reference import evaluate

EXAMPLES = sorted((ROOT / "examples" / "requests").glob("*.yaml"))
USERS = ["root", "editor", "archivist", "photographer", "guest"]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("examples")
    for name in ("runner.yaml", "datamodel.yaml"):
        shutil.copy(ROOT / name, base / name)
    assert run_cli("store", "seed", "--objects", "1000", "--files", "20", cwd=base).code == 0
    return base


@pytest.fixture(scope="module")
def records(seeded) -> list[dict]:
    return [json.loads(line) for line in run_cli("store", "export", cwd=seeded).out.splitlines()]


def test_the_readme_names_every_example():
    readme = (ROOT / "README.md").read_text()
    assert "examples/requests/" in readme
    assert EXAMPLES, "the examples exist"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_each_example_returns_what_each_user_may_read(seeded, records, example):
    model = load_datamodel_file(seeded / "datamodel.yaml").value
    data, _ = load(example.read_text())
    request = SearchRequest.model_validate(data)
    counts = []
    for user in USERS:
        now = datetime.now(UTC)
        result = run_cli(
            "store",
            "search",
            str(example),
            "--as",
            user,
            "--format",
            "json",
            "--limit",
            "5000",
            cwd=seeded,
        )
        assert result.code == 0, result.err
        answer = json.loads(result.out)
        got = [r["_system_object_id"] for r in answer["objects"]]
        want = evaluate(model, records, request, user=user, now=now)
        assert got == want, (example.name, user)  # the same records, in the request's order
        assert answer["count"] == len(got)
        counts.append(len(got))
    assert counts[0] > 0, f"{example.name} finds something for root in the seeded store"
    assert counts[0] >= max(counts), "no user reads more than root"
