"""Check registration: declarative metadata validated at registration, explicit discovery.

A check is a small function decorated with @check(...). It receives a context for its scope
(see `preflight.engine.context`) and returns one Finding or an iterable of Findings. The runner
fills in the check id, host, domain, source and destination; a check that raises becomes ERROR.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from preflight.model import Scope, Severity, Status

ID_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
# The categories --only/--skip, the reports and `preflight checks` group by. A check's id starts
# with its category ("storage.shared"), so `--skip storage` and the id tell the same story.
CATEGORIES = ("host", "storage", "cpu", "domain", "network", "firewall", "memory", "nfs")
ROLES = ("source", "destination")


class RegistryError(Exception):
    """A check is malformed, duplicated or failed to import: the run must stop."""


@dataclass(frozen=True)
class Finding:
    """What a check says about one subject (or one disk of it)."""

    status: Status
    message: str
    observed: Any = None
    expected: Any = None
    source: Optional[str] = None       # where the observation came from: "hv2: /proc/self/mountinfo"
    subject: Optional[str] = None      # defaults to the scope's subject (host, domain, domain->dest)
    disk: Optional[str] = None
    details: dict = field(default_factory=dict)
    # tells this finding apart from the check's other findings about the same subject (and disk),
    # e.g. "uuid"/"hostname" or a NIC's MAC: part of the result's stable id (preflight.model)
    item: Optional[str] = None


def passed(message: str, **kw) -> Finding:
    return Finding(Status.PASS, message, **kw)


def warned(message: str, **kw) -> Finding:
    return Finding(Status.WARN, message, **kw)


def failed(message: str, **kw) -> Finding:
    return Finding(Status.FAIL, message, **kw)


def undecided(message: str, **kw) -> Finding:
    """ERROR: the check could not decide. Never use PASS for this."""
    return Finding(Status.ERROR, message, **kw)


def skipped(message: str, **kw) -> Finding:
    return Finding(Status.SKIP, message, **kw)


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    category: str
    severity: Severity
    scope: Scope
    func: Callable
    remediation: str
    rationale: str                      # why it matters for live migration
    verifies: str                       # what it verifies, for `preflight explain`
    references: tuple = ()
    requires: tuple = ()                # fact keys; missing on a host involved -> ERROR
    # For HOST scope checks: which role of a host in a migration the check bears on. None (roles=())
    # makes it advisory: its results are reported per host and bear on no migration's verdict.
    roles: tuple = ("source", "destination")
    origin: str = "built-in"            # built-in, or the plugin's entry point

    def metadata(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "category": self.category,
            "severity": self.severity.value,
            "scope": self.scope.value,
            "remediation": self.remediation,
            "rationale": self.rationale,
            "verifies": self.verifies,
            "references": list(self.references),
            "origin": self.origin,
        }


class Registry:
    def __init__(self) -> None:
        self._checks: dict = {}

    def add(self, spec: CheckSpec) -> None:
        _validate(spec)
        if spec.id in self._checks:
            other = self._checks[spec.id]
            raise RegistryError(
                f"check id {spec.id!r} is defined twice ({other.origin}: {other.func.__module__} "
                f"and {spec.origin}: {spec.func.__module__}); rename one of them"
            )
        self._checks[spec.id] = spec

    def get(self, check_id: str) -> Optional[CheckSpec]:
        return self._checks.get(check_id)

    def all(self) -> list:
        return sorted(self._checks.values(), key=lambda s: (CATEGORIES.index(s.category)
                                                            if s.category in CATEGORIES else 99, s.id))

    def __len__(self) -> int:
        return len(self._checks)


def _validate(spec: CheckSpec) -> None:
    """Refuse what the engine cannot honour, in one line naming the check and every problem."""
    problems = []
    if not isinstance(spec.id, str) or not ID_RE.match(spec.id):
        problems.append("id must look like 'category.name' (lower case, digits, underscores)")
    if spec.category not in CATEGORIES:
        problems.append(f"unknown category {spec.category!r} (one of: {', '.join(CATEGORIES)})")
    elif isinstance(spec.id, str) and ID_RE.match(spec.id) and spec.id.split(".")[0] != spec.category:
        problems.append(f"id {spec.id!r} must start with its category: '{spec.category}.'")
    if not isinstance(spec.title, str) or not spec.title or len(spec.title) > 150:
        problems.append("title must be 1-150 characters")
    if not isinstance(spec.remediation, str) or not spec.remediation.strip():
        problems.append("remediation is required")
    if not (isinstance(spec.rationale, str) and spec.rationale.strip()
            and isinstance(spec.verifies, str) and spec.verifies.strip()):
        problems.append("rationale and verifies are required (they are what `preflight explain` shows)")
    if not isinstance(spec.severity, Severity):
        problems.append("severity must be a preflight.model.Severity")
    if not isinstance(spec.scope, Scope):
        problems.append("scope must be a preflight.model.Scope")
    problems += _requires_problems(spec)
    if any(r not in ROLES for r in spec.roles) or (not spec.roles and spec.scope is not Scope.HOST):
        problems.append(f"roles must name 'source' and/or 'destination', not {list(spec.roles)!r} "
                        "(only a host-scope check may name none: advisory, no migration verdict)")
    if problems:
        module = getattr(spec.func, "__module__", "?")
        where = module if spec.origin == "built-in" else f"{spec.origin}: {module}"
        raise RegistryError(f"check {spec.id!r} ({where}): " + "; ".join(problems))


def _requires_problems(spec: CheckSpec) -> list:
    """A required key nobody reports missing switches the missing-fact gate off without a word:
    only the keys of preflight.facts.keys may be required, pair keys only where a pair is seen."""
    from preflight.facts.keys import HOST_FACT_KEYS, KNOWN_FACT_KEYS, PAIR_FACT_KEYS

    if isinstance(spec.requires, str) or not all(isinstance(k, str) for k in spec.requires):
        return ["requires must be a tuple of fact keys, e.g. requires=('domains',)"]
    problems = []
    unknown = [k for k in spec.requires if k not in KNOWN_FACT_KEYS]
    if unknown:
        problems.append(f"requires names {', '.join(repr(k) for k in unknown)}, which no fact provides "
                        f"(known fact keys: preflight.facts.keys)")
    pair_keys = [k for k in spec.requires if k in PAIR_FACT_KEYS and k not in HOST_FACT_KEYS]
    if pair_keys and spec.scope in (Scope.HOST, Scope.DOMAIN):
        problems.append(f"requires pair facts {', '.join(repr(k) for k in pair_keys)}, but a "
                        f"{spec.scope.value}-scope check sees no host pair")
    return problems


def check(*, id: str, title: str, category: str, severity: Severity, scope: Scope,
          remediation: str, rationale: str, verifies: str, references=(), requires=(),
          roles=("source", "destination")):
    """Declare a check. See the module docstring."""

    def wrap(func: Callable) -> Callable:
        def strip(text):
            return text.strip() if isinstance(text, str) else text

        # A bare string (requires="domains") stays a string so that _validate names the mistake
        # instead of turning it into the keys 'd', 'o', ...
        spec = CheckSpec(id=id, title=title, category=category, severity=severity, scope=scope,
                         func=func, remediation=strip(remediation), rationale=strip(rationale),
                         verifies=strip(verifies), references=tuple(references),
                         requires=requires if isinstance(requires, str) else tuple(requires),
                         roles=(roles,) if isinstance(roles, str) else tuple(roles))
        _validate(spec)
        # Discovery finds checks by this attribute on a module's functions; no global state.
        func.__preflight_check__ = spec
        return func

    return wrap


def _specs_in_module(module) -> list:
    return [obj.__preflight_check__ for obj in vars(module).values()
            if callable(obj) and hasattr(obj, "__preflight_check__")
            and obj.__module__ == module.__name__]


BUILTIN_PACKAGE = "preflight.checks"
ENTRY_POINT_GROUP = "preflight.checks"


def discover(include_plugins: bool = True) -> Registry:
    """Built-in checks from preflight.checks, then plugins from the entry-point group.

    Loud by design: a module that fails to import or a duplicate id raises RegistryError.
    """
    registry = Registry()
    package = importlib.import_module(BUILTIN_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        name = f"{BUILTIN_PACKAGE}.{info.name}"
        try:
            module = importlib.import_module(name)
        except RegistryError:
            raise
        except Exception as exc:  # noqa: BLE001 - any import failure must stop the run loudly
            raise RegistryError(f"built-in check module {name} failed to import: {exc}") from exc
        for spec in _specs_in_module(module):
            registry.add(spec)
    if include_plugins:
        for ep in _entry_points():
            try:
                loaded = ep.load()
            except RegistryError as exc:  # a @check in the plugin refused its own declaration
                raise RegistryError(f"plugin {ep.name!r} ({ep.value}) is refused: {exc}; fix the plugin "
                                    f"or uninstall that package") from exc
            except Exception as exc:  # noqa: BLE001
                raise RegistryError(
                    f"plugin {ep.name!r} ({ep.value}) from entry point group {ENTRY_POINT_GROUP!r} "
                    f"failed to import: {exc}; fix or uninstall that package") from exc
            modules = [loaded] if hasattr(loaded, "__name__") and not callable(loaded) else []
            specs = (_specs_in_module(loaded) if modules else
                     [loaded.__preflight_check__] if hasattr(loaded, "__preflight_check__") else [])
            if not specs:
                raise RegistryError(
                    f"plugin {ep.name!r} ({ep.value}) declares no check: point the entry point "
                    f"at a module containing @preflight.engine.registry.check functions")
            for spec in specs:
                registry.add(_with_origin(spec, f"plugin {ep.name}"))
    return registry


def _with_origin(spec: CheckSpec, origin: str) -> CheckSpec:
    from dataclasses import replace

    return replace(spec, origin=origin)


def _entry_points():
    from importlib.metadata import entry_points

    eps = entry_points()
    if hasattr(eps, "select"):
        return list(eps.select(group=ENTRY_POINT_GROUP))
    return list(eps.get(ENTRY_POINT_GROUP, []))  # Python < 3.10
