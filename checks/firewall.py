"""firewall.migration_ports: the source can open QEMU's migration data connection to the destination."""

from __future__ import annotations

from preflight.engine.registry import check, failed, passed, undecided
from preflight.model import Scope, Severity

from ._common import LIBVIRT_MIGRATION

_OUTCOMES = {
    "refused": "the destination rejects connections to port {port} while preflight's test listener holds "
               "it (a firewall REJECT rule): a migration fails at once with 'Connection refused'",
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
    return [_judge(ctx, probe) for probe in probes]


def _judge(ctx, probe):
    src, dst = ctx.source.name, ctx.destination.name
    ev = dict(observed=f"{probe.outcome}" + (f" ({probe.detail})" if probe.detail else "")
              + (f" after {probe.elapsed_ms} ms" if probe.elapsed_ms is not None else ""),
              expected=f"answered by {dst}'s test listener",
              source=f"{src}: TCP connect to {probe.target}:{probe.port}",
              details={"port": probe.port, "confirmed": probe.confirmed, "listener": probe.listener})
    if probe.outcome == "answered":
        if probe.confirmed is False:
            return undecided(f"{probe.target}:{probe.port} answered {src}, but {dst}'s test listener never saw "
                             f"that connection: something else answers there (does {probe.target} lead to "
                             f"{dst} from {src}?)", **ev)
        tail = "" if probe.confirmed else f" (not confirmed by {dst}'s listener)"
        return passed(f"{probe.target}:{probe.port} answered from {src}{tail}", **ev)
    if probe.outcome == "refused" and probe.listener:
        # Without our listener on the port, a refusal may only mean that nothing listened.
        return undecided(f"{probe.target}:{probe.port} refused {src}, but no test listener covered the probe "
                         f"({probe.listener}); a firewall REJECT cannot be told from a closed port", **ev)
    if probe.outcome in _OUTCOMES:
        ev["details"]["remediation"] = _remedy(ctx)
        return failed(_OUTCOMES[probe.outcome].format(port=probe.port, target=probe.target), **ev)
    return undecided(f"the probe of {probe.target}:{probe.port} could not be made: "
                     f"{probe.detail or probe.outcome}", **ev)


def _remedy(ctx) -> str:
    """The rule to add, naming this destination, this source and the destination's own port range."""
    src, dst = ctx.source, ctx.destination
    lo, hi = dst.migration_ports
    saddr = src.address or src.name
    family = "ip6" if ":" in saddr else "ip"
    return (f"On {dst.name} accept TCP {lo}-{hi} (its qemu.conf migration range) from {src.name} "
            f"({saddr}) ahead of the rule that refuses it, e.g. `nft insert rule inet filter input "
            f"{family} saddr {saddr} tcp dport {lo}-{hi} accept`, and make it persistent; or migrate "
            f"{src.name} -> {dst.name} tunnelled (`virsh migrate --p2p --tunnelled`).")
