"""What a check receives: the facts of its scope, read-only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from preflight.facts.models import ClusterFacts, Domain, HostFacts, PairFacts


@dataclass(frozen=True)
class HostContext:
    cluster: ClusterFacts
    host: HostFacts

    @property
    def subject(self) -> str:
        return self.host.name


@dataclass(frozen=True)
class DomainContext:
    cluster: ClusterFacts
    host: HostFacts
    domain: Domain

    @property
    def subject(self) -> str:
        return self.domain.name


@dataclass(frozen=True)
class PairContext:
    cluster: ClusterFacts
    source: HostFacts
    destination: HostFacts
    pair: Optional[PairFacts]        # None when the pair phase could not run

    @property
    def subject(self) -> str:
        return f"{self.source.name} -> {self.destination.name}"


@dataclass(frozen=True)
class MigrationContext:
    cluster: ClusterFacts
    source: HostFacts
    destination: HostFacts
    domain: Domain
    pair: Optional[PairFacts]

    @property
    def subject(self) -> str:
        return f"{self.domain.name}: {self.source.name} -> {self.destination.name}"
