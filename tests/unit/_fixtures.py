"""Paths to recorded real outputs (see tests/fixtures/SOURCES.md)."""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def read(rel: str) -> str:
    return (FIXTURES / rel).read_text(encoding="utf-8")
