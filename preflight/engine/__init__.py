"""The check engine: registry of checks, the runner that applies them to facts, the migration matrix."""
