"""Can preflight reach each hypervisor at all, and did libvirt answer? Everything else rests on it."""

from preflight.engine.registry import check, passed, undecided
from preflight.facts.keys import CORE_FACT_KEYS
from preflight.model import Scope, Severity

_WHAT = {"libvirt": "libvirt connection (version, hostname)", "capabilities": "host capabilities",
         "domains": "domain list"}


@check(
    id="host.reachable",
    title="Host reachable over SSH and libvirt",
    category="host",
    severity=Severity.CRITICAL,
    scope=Scope.HOST,
    verifies="preflight could open an SSH connection to the host (strict host-key checking) and gather its "
             "facts, and libvirt on the host answered: its version and hostname, the host capabilities and "
             "the domain list.",
    rationale="A host whose facts cannot be gathered cannot be judged: every migration to or from it is "
              "'unknown', never 'pass'. A host that answers SSH but not libvirt is no better: without its "
              "domain list its guests could not even be listed, and they would silently drop out of the "
              "matrix.",
    remediation="Make the host reachable from where preflight runs: check the address and port in the "
                "inventory or ssh_config, the SSH key or agent, and that its host key is in known_hosts "
                "(verify the fingerprint out of band, then add it with ssh-keyscan, or run once with "
                "--trust-new-host-keys). If SSH works but libvirt does not answer: check that libvirtd "
                "(or virtqemud) runs on the host (`virsh -c qemu:///system list --all` as the SSH user), "
                "that the SSH user may use qemu:///system (libvirt group or root), and that libvirt-python "
                "is installed where preflight runs (pip install kvm-preflight[libvirt]).",
    references=("https://man.openbsd.org/ssh_config", "https://libvirt.org/remote.html"),
)
def host_reachable(ctx):
    host = ctx.host
    where = f"ssh to {host.address or host.name}"
    if not host.reachable:
        return undecided(f"{host.name} could not be checked: {host.error}",
                         observed=host.error, expected="an SSH session and facts", source=where)
    # Read here, not through requires=: the check must also run (and speak) for unreachable hosts.
    missing = [(key, host.fact_errors[key]) for key in CORE_FACT_KEYS if key in host.fact_errors]
    if missing:
        what = "; ".join(f"{_WHAT[key]}: {why}" for key, why in missing)
        names = ", ".join(_WHAT[key] for key, _ in missing)
        guests = " Its guests could not be listed." if any(k == "domains" for k, _ in missing) else ""
        return undecided(f"{host.name} answered over SSH, but libvirt facts are missing or unusable "
                         f"({names}): the host cannot be judged.{guests}",
                         observed=what, expected="libvirt's version and hostname, the host capabilities "
                                                 "and the domain list",
                         source=f"libvirt on {host.name} over {where}",
                         details={"missing_facts": {key: why for key, why in missing}})
    return passed(f"{host.name} answered: libvirt {host.libvirt_version}, QEMU {host.qemu_version}, "
                  f"{sum(1 for d in host.domains if d.active)} running guest(s) ({host.round_trips} round "
                  f"trips, {host.libvirt_calls} libvirt calls)",
                  observed=f"hostname {host.hostname}", source=where)
