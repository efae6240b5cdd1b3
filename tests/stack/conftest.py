"""Each pytest worker has its own local AWS (moto's server in its process);
every scenario leaves its figures beside its logs, and the run prints them
all at the end (also in target/stack-tmp/figures.md, and after a whole run in
target/figures/stack.md, which tools/check_figures.py compares with
docs/evidence.md)."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests/template"), str(Path(__file__).parent)]

from figures import SCENARIO_NAMES, keep, table  # noqa: E402
from local_aws import LocalAws  # noqa: E402
from scenario import Figures  # noqa: E402

WORK = ROOT / "target/stack-tmp/scenarios"


def pytest_configure(config):
    # moto says so for each resource type it skips; deploy() checks which.
    config.addinivalue_line("filterwarnings", "ignore:Tried to parse:UserWarning")
    if not hasattr(config, "workerinput"):  # once, in the process that runs or controls the tests
        shutil.rmtree(WORK, ignore_errors=True)
        WORK.mkdir(parents=True)


@pytest.fixture(scope="session")
def aws():
    local = LocalAws()
    yield local
    local.stop()


@pytest.fixture(scope="session")
def work_root() -> Path:
    return WORK


@pytest.fixture
def record():
    """Keeps a scenario's figures for the summary."""

    def keep(figures: Figures, work: Path) -> None:
        (work / "figures.json").write_text(json.dumps(asdict(figures)))

    return keep


def pytest_terminal_summary(terminalreporter, config):
    if hasattr(config, "workerinput"):
        return
    found = [Figures(**json.loads(p.read_text())) for p in WORK.glob("*/figures.json")]
    if not found:
        return
    text = table(found)
    (ROOT / "target/stack-tmp/figures.md").write_text(text + "\n")
    # Every deploy scenario in every wiring, listed and auto, and the three
    # distributions of the configuration scenario: the tables the documentation shows.
    deploys = [f for f in found if f.scenario != "configuration"]
    if len(deploys) == (len(SCENARIO_NAMES) - 1) * 3 * 2 and len(found) == len(deploys) + 3:
        keep("stack.md", "make stack-test", text)
    terminalreporter.write_sep("=", "what viewers got (also in target/stack-tmp/figures.md)")
    terminalreporter.write_line(text)
