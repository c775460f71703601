"""Built-in checks: one module per concern. Installed as preflight.checks."""
