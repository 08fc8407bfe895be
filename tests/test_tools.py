"""The tests' own rule for external tools: skip where missing locally, fail on CI."""

from __future__ import annotations

import pytest

from tests.tools import require_tool

MISSING = "earmark-no-such-tool"


def test_a_missing_tool_skips_a_local_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Locally a test whose tool is missing is skipped, naming the package to install."""
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install earmark-pkg"):
        require_tool(MISSING, package="earmark-pkg")


@pytest.mark.parametrize("ci", ["true", "1"])
def test_a_missing_tool_fails_on_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    """On CI the same test fails: CI can never pass by skipping what .ci/run must install."""
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match=MISSING):
        require_tool(MISSING, package="earmark-pkg")


def test_a_present_tool_is_found_by_its_first_name_on_path() -> None:
    """The first name on PATH wins; its path comes back."""
    assert require_tool(MISSING, "sh", package="dash").endswith("/sh")
