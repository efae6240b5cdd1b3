"""The stack tests share one local AWS (moto's server in this process) and
print the figures of every scenario at the end of the run."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests/template"), str(Path(__file__).parent)]

from figures import table  # noqa: E402
from local_aws import LocalAws  # noqa: E402

WORK = ROOT / "target/stack-tmp/scenarios"
FIGURES: list = []


def pytest_configure(config):
    # moto says so for each resource type it skips; deploy() checks which.
    config.addinivalue_line("filterwarnings", "ignore:Tried to parse:UserWarning")


@pytest.fixture(scope="session")
def aws():
    local = LocalAws()
    yield local
    local.stop()


@pytest.fixture(scope="session")
def work_root() -> Path:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    return WORK


@pytest.fixture(scope="session")
def figures() -> list:
    return FIGURES


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    text = table(FIGURES)
    (ROOT / "target/stack-tmp/figures.md").write_text(text + "\n")
    terminalreporter.write_sep("=", "what viewers got (also in target/stack-tmp/figures.md)")
    terminalreporter.write_line(text)
