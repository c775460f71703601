"""Built-in checks: one module per concern. Installed as preflight.checks, imported only so."""

if __name__ != "preflight.checks":
    # This directory sits at the repository's top level and pyproject installs it as preflight.checks.
    # Imported as bare `checks` (the repository root on sys.path) every module would exist twice, and
    # a test would call other functions than the ones a run uses.
    raise ImportError("import preflight.checks, not checks (the repository root is on sys.path)")
