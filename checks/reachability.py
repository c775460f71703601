"""Can preflight reach each hypervisor at all? Everything else rests on it."""

from preflight.engine.registry import check, passed, undecided
from preflight.model import Scope, Severity


@check(
    id="host.reachable",
    title="Host reachable over SSH and libvirt",
    category="host",
    severity=Severity.CRITICAL,
    scope=Scope.HOST,
    verifies="preflight could open an SSH connection to the host (strict host-key checking) and "
             "gather its facts.",
    rationale="A host whose facts cannot be gathered cannot be judged: every migration to or from it "
              "is 'unknown', never 'pass'.",
    remediation="Make the host reachable from where preflight runs: check the address and port in the "
                "inventory or ssh_config, the SSH key or agent, and that its host key is in known_hosts "
                "(verify the fingerprint out of band, then add it with ssh-keyscan, or run once with "
                "--trust-new-host-keys).",
    references=("https://man.openbsd.org/ssh_config", "https://libvirt.org/remote.html"),
)
def host_reachable(ctx):
    host = ctx.host
    if not host.reachable:
        return undecided(f"{host.name} could not be checked: {host.error}",
                         observed=host.error, expected="an SSH session and facts",
                         source=f"ssh to {host.address or host.name}")
    return passed(f"{host.name} answered ({host.round_trips} round trips, "
                  f"{host.libvirt_calls} libvirt calls)",
                  observed=f"hostname {host.hostname}", source=f"ssh to {host.address or host.name}")
