"""firewall.migration_ports: the source can open QEMU's migration data connection to the destination."""

from __future__ import annotations

from preflight.engine.registry import check, failed, passed, undecided
from preflight.model import Scope, Severity

from ._common import LIBVIRT_MIGRATION

_OUTCOMES = {
    "refused": "the destination rejects connections to port {port} (a firewall REJECT rule, or nothing may "
               "listen there): a migration fails at once with 'Connection refused'",
    "timeout": "connections to port {port} are silently dropped: a real migration hangs ~130 s holding "
               "the domain's job lock, then fails with 'Connection timed out'",
    "unreachable": "port {port} of {target} is unreachable from the source (no route to host)",
}


@check(
    id="firewall.migration_ports", title="The destination accepts QEMU migration connections from the source",
    category="firewall", severity=Severity.HIGH, scope=Scope.PAIR, requires=("probes",),
    verifies="A TCP connect, made from the source host to the destination on its QEMU migration port "
             "range (qemu.conf migration_port_min/max, default 49152-49215), is answered.",
    rationale="libvirt's native migration sends the guest's memory over a direct TCP connection from "
              "the source to a port in the destination's migration range. A REJECT rule makes every "
              "migration fail; a DROP rule makes it hang for minutes holding the domain's job lock.",
    remediation="On the destination allow TCP 49152-49215 (or your qemu.conf migration_port_min/max) "
                "from the other hypervisors, e.g. `nft add rule inet filter input ip saddr "
                "<hypervisor-subnet> tcp dport 49152-49215 accept`, or use tunnelled migration "
                "(`virsh migrate --p2p --tunnelled`) which rides the libvirt connection.",
    references=(LIBVIRT_MIGRATION + "#network-data-transports",
                "https://libvirt.org/kbase/migrationinternals.html"),
)
def migration_ports(ctx):
    if ctx.pair is None:
        return undecided("the pair phase did not run for this source and destination")
    probes = [p for p in ctx.pair.probes if p.purpose == "migration"]
    if not probes:
        return undecided(f"no migration-port probe from {ctx.source.name} to {ctx.destination.name} was recorded")
    findings = []
    for probe in probes:
        ev = dict(observed=f"{probe.outcome}" + (f" ({probe.detail})" if probe.detail else "")
                  + (f" after {probe.elapsed_ms} ms" if probe.elapsed_ms is not None else ""),
                  expected="answered", source=f"{ctx.source.name}: TCP connect to {probe.target}:{probe.port}",
                  details={"port": probe.port})
        if probe.outcome == "answered":
            findings.append(passed(f"{probe.target}:{probe.port} answered from {ctx.source.name}", **ev))
        elif probe.outcome in _OUTCOMES:
            findings.append(failed(_OUTCOMES[probe.outcome].format(port=probe.port, target=probe.target), **ev))
        else:
            findings.append(undecided(f"the probe of {probe.target}:{probe.port} could not be made: "
                                      f"{probe.detail or probe.outcome}", **ev))
    return findings
