"""Raw facts record -> typed facts. Pure functions: no I/O, no connections.

Fact keys
---------
A fact that could not be gathered or parsed is named in ``HostFacts.fact_errors`` /
``PairFacts.fact_errors`` (key -> why) and its field keeps its empty default. Checks declare
the keys they read in ``@check(requires=...)`` and the runner turns a missing one into ERROR,
so an empty field is never read as "nothing wrong". The keys:

==============  ===========================  ===============================================
key             raw source                   typed field(s)
==============  ===========================  ===============================================
hostname        shell ``hostname``           HostFacts.hostname
fqdn            shell ``hostname -f``        HostFacts.fqdn
machine_id      shell ``machine_id``         HostFacts.machine_id
mounts          shell ``mountinfo``          HostFacts.mounts
interfaces      shell ``ip_link``            HostFacts.interfaces (kind, master, state, mtu)
addresses       shell ``ip_addr``            NetInterface.addresses inside HostFacts.interfaces
qemu_conf       shell ``qemu_conf``          HostFacts.migration_ports
fstab           shell ``fstab``              HostFacts.fstab (FstabEntry; no /etc/fstab = empty)
mount_units     shell ``mount_units``        HostFacts.mount_units (no systemctl = empty)
qemu_user       shell ``qemu_conf``          HostFacts.qemu_user/group, dynamic_ownership
libvirt         libvirt lib/hv version,      HostFacts.libvirt_version, qemu_version,
                hostname                     libvirt_hostname
capabilities    libvirt ``capabilities``     HostFacts.host_uuid, arch, cpu_vendor, cpu_model,
                                             hostcaps (emulators, machine types, secmodels),
                                             cpu_features, cpu_microcode, cpu_signature (else
                                             from shell ``cpuinfo``: evidence only, no fact key)
domains         libvirt ``domains``          HostFacts.domains (Domain.live_cpu/live_xml from the
                                             entry's ``live_xml``; absent: live_cpu_note says why)
domain:NAME     one domain's XML             Domain(name=NAME, error=why) stays in .domains
live_xml:NAME   a running domain's live XML  Domain.live_cpu None, live_cpu_note = why (the
                                             domain is still judged, on its configured CPU)
networks        libvirt ``networks``         HostFacts.networks
network:NAME    one network's XML            NAME is left out of HostFacts.networks
block           shell ``lsblk`` (+ by-id,    HostFacts.block: devices, by-id/by-path links,
                by-path, multipath, iscsi,   multipath maps, iSCSI sessions, FC ports (only
                fc_hosts)                    lsblk is indispensable; the rest -> block.errors)
qemu_caps       shell ``qemu_caps``          HostFacts.qemu_caps (emulator -> QemuCaps)
pools           libvirt ``pools``/``volumes``  HostFacts.pools, HostFacts.volumes
pool:NAME       one pool's XML               NAME is left out of HostFacts.pools
chains          raw ``chains`` (2nd exec)    HostFacts.disk_chains (path -> DiskChain)
cluster_stack   shell ``cluster_stack``      HostFacts.cluster_stack (dlm/corosync/o2cb)
blkid           shell ``blkid``              HostFacts.fs_ids (device -> file-system type, UUID)
image_access    raw ``image_access``         HostFacts.qemu_cred, file_stats (stat, id;
                (2nd exec)                   write_tests from raw ``write_test``)
secrets         libvirt ``secrets``          HostFacts.secrets (uuid/usage only, no value)
cpu             pair ``cpu``                 PairFacts.cpu (domain -> CpuVerdict, with what
                                             was compared: live, configured, source-host)
probes          pair ``probes``              PairFacts.probes
resolved        pair ``resolved``            PairFacts.resolved
kvm_device,     shell (preflight.facts.      HostFacts.compat (CompatFacts: /dev/kvm, meminfo and
memory, numa,   compat_facts)                huge pages, NUMA and CPU count, chrony/timedatectl/
time_sync,                                   ntpq, HostFilters of nft/iptables/firewalld)
packet_filter
==============  ===========================  ===============================================

An unreachable host gets ``HostFacts(reachable=False, error=...)`` and every key above in
its fact_errors, so that no check can mistake its empty fields for facts.
"""

from __future__ import annotations

from typing import Optional

from preflight.facts.capabilities import parse_capabilities, parse_cpuinfo, parse_network, version_string
from preflight.facts.cpu_defs import CONFIGURED, missing_features
from preflight.facts.compat_facts import parse_compat_fields
from preflight.facts.domain_xml import parse_domain_xml
from preflight.facts.hostcaps import parse_hostcaps
from preflight.facts.keys import HOST_FACT_KEYS, PAIR_FACT_KEYS  # noqa: F401 - re-exported
from preflight.facts.models import ClusterFacts, CpuVerdict, Domain, HostFacts, PairFacts, PortProbe
from preflight.facts.mountinfo import parse_mountinfo
from preflight.facts.netlink import merge_links_and_addresses, parse_ip_addr, parse_ip_link
from preflight.facts.qemu_conf import migration_ports
from preflight.facts.raw import FORMAT, SHELL_FACTS
from preflight.facts.storage_hosts import parse_host_storage_fields, parse_storage_hosts
from preflight.facts.storage_parse import BLOCK_SHELL_KEYS, parse_storage_fields
from preflight.facts.storage_access import parse_access_fields


# fact key -> the raw shell key it is parsed from (raw "errors" may use either name)
_SHELL_SOURCE = {"hostname": "hostname", "fqdn": "fqdn", "machine_id": "machine_id",
                 "mounts": "mountinfo", "interfaces": "ip_link", "addresses": "ip_addr",
                 "qemu_conf": "qemu_conf"}


# raw "errors" key -> fact key, where they differ
_RAW_ERROR_KEYS = {**{raw: fact for fact, raw in _SHELL_SOURCE.items()},
                   "lib_version": "libvirt", "hv_version": "libvirt",
                   **{raw: "block" for raw in BLOCK_SHELL_KEYS}, "volumes": "pools"}


class RecordError(ValueError):
    """The record itself is unusable (wrong format): not a fact error, the run must stop."""


def _command(key: str) -> str:
    return " ".join(SHELL_FACTS.get(key, [key]))


def _shell_output(raw_host: dict, fact: str, errors: dict):
    """The stdout of the shell fact behind `fact`, or None with errors[fact] set."""
    key = _SHELL_SOURCE[fact]
    raw_errors = raw_host.get("errors") or {}
    result = (raw_host.get("shell") or {}).get(key)
    if result is None:
        errors[fact] = raw_errors.get(fact) or raw_errors.get(key) or f"`{_command(key)}` was not gathered"
        return None
    rc = result.get("rc")
    if rc != 0:
        err = (result.get("err") or "").strip()
        errors[fact] = f"`{_command(key)}` exited {rc}" + (f": {err[:300]}" if err else "")
        return None
    return result.get("out") or ""


def _parse_into(fact: str, errors: dict, func, *args):
    """Run a parser; a parse failure becomes errors[fact] instead of an exception."""
    try:
        return func(*args)
    except (ValueError, KeyError, TypeError) as exc:
        errors[fact] = f"could not parse {fact}: {exc}"[:500]
        return None


def _first_line(text: str):
    line = (text or "").strip().splitlines()
    return line[0].strip() if line and line[0].strip() else None


def _parse_shell(raw_host: dict, errors: dict) -> dict:
    fields = {}
    for fact, field in (("hostname", "hostname"), ("fqdn", "fqdn"), ("machine_id", "machine_id")):
        out = _shell_output(raw_host, fact, errors)
        if out is not None:
            fields[field] = _first_line(out)
            if fields[field] is None:
                errors[fact] = f"`{_command(_SHELL_SOURCE[fact])}` printed nothing"
    out = _shell_output(raw_host, "mounts", errors)
    if out is not None:
        mounts = _parse_into("mounts", errors, parse_mountinfo, out)
        if mounts is not None:
            fields["mounts"] = mounts
    out = _shell_output(raw_host, "interfaces", errors)
    links = _parse_into("interfaces", errors, parse_ip_link, out) if out is not None else None
    out = _shell_output(raw_host, "addresses", errors)
    addresses = _parse_into("addresses", errors, parse_ip_addr, out) if out is not None else None
    if links is not None:
        fields["interfaces"] = merge_links_and_addresses(links, addresses or {})
    out = _shell_output(raw_host, "qemu_conf", errors)
    if out is not None:
        ports = _parse_into("qemu_conf", errors, migration_ports, out)
        if ports is not None:
            fields["migration_ports"] = ports
    return fields


def _live_note(raw: dict, raw_errors: dict) -> Optional[str]:
    """Why a domain's live XML is not there (None when it is, or the guest is not running)."""
    if raw.get("live_xml") or not raw.get("active"):
        return None
    name = raw.get("name") or "?"
    if "live_xml" not in raw:
        return "the recording has no live definition (made before preflight gathered it)"
    return raw_errors.get(f"live_xml:{name}") or "the live XML could not be gathered"


def _parse_domains(raw_domains, errors: dict, raw_errors: Optional[dict] = None) -> tuple:
    domains = []
    for raw in raw_domains:
        name = raw.get("name") or "?"
        try:
            domain = parse_domain_xml(raw.get("xml"), name=name, state=raw.get("state"),
                                      active=bool(raw.get("active")),
                                      persistent=bool(raw.get("persistent", True)),
                                      live_xml=raw.get("live_xml") if raw.get("active") else None,
                                      live_note=_live_note(raw, raw_errors or {}))
        except ValueError as exc:
            errors[f"domain:{name}"] = str(exc)[:500]
            domain = Domain(name=name, uuid=raw.get("uuid"), active=bool(raw.get("active")),
                            persistent=bool(raw.get("persistent", True)), state=raw.get("state"),
                            error=str(exc)[:500])
        domains.append(domain)
    return tuple(domains)


def _parse_libvirt(raw_host: dict, errors: dict) -> dict:
    raw_errors = raw_host.get("errors") or {}
    lv = raw_host.get("libvirt")
    # gather leaves "libvirt": {} when the connection failed: every libvirt fact is missing for the
    # reason recorded under "libvirt", not merely "not gathered"
    if not isinstance(lv, dict) or (not lv and raw_errors.get("libvirt")):
        why = raw_errors.get("libvirt") or "no libvirt facts were gathered"
        for key in ("libvirt", "capabilities", "domains", "networks"):
            errors[key] = raw_errors.get(key) or why
        return {}
    fields = {}
    for key, field in (("lib_version", "libvirt_version"), ("hv_version", "qemu_version")):
        try:
            fields[field] = version_string(lv.get(key))
        except ValueError as exc:
            errors["libvirt"] = raw_errors.get(key) or raw_errors.get("libvirt") or \
                f"libvirt {key} unusable: {exc}"
    fields["libvirt_hostname"] = lv.get("hostname") or None
    if not fields["libvirt_hostname"]:
        errors["libvirt"] = (raw_errors.get("hostname") if "hostname" in (raw_host.get("shell") or {})
                             else None) or raw_errors.get("libvirt") or "libvirt returned no hostname"
    if lv.get("capabilities") is None:
        errors["capabilities"] = raw_errors.get("capabilities") or "capabilities were not gathered"
    else:
        caps = _parse_into("capabilities", errors, parse_capabilities, lv["capabilities"])
        if caps:
            fields.update(caps)
            if not caps.get("host_uuid"):
                errors["capabilities"] = "capabilities XML has no <host><uuid>"
            hostcaps = _parse_into("capabilities", errors, parse_hostcaps, lv["capabilities"])
            if hostcaps is not None:
                fields["hostcaps"] = hostcaps
    if lv.get("domains") is None:
        errors["domains"] = raw_errors.get("domains") or "the domain list was not gathered"
    else:
        fields["domains"] = _parse_domains(lv["domains"], errors, raw_errors)
    if lv.get("networks") is None:
        errors["networks"] = raw_errors.get("networks") or "the libvirt network list was not gathered"
    else:
        networks = {}
        for raw in lv["networks"]:
            name = raw.get("name")
            key = f"network:{name}" if name and name != "?" else "networks"
            net = _parse_into(key, errors, parse_network, raw)
            if net is not None:
                networks[net.name] = net
        fields["networks"] = networks
    return fields


def _cpuinfo_fields(raw_host: dict, fields: dict) -> dict:
    """/proc/cpuinfo (shell "cpuinfo", evidence only: never a fact error when absent) fills
    what capabilities lack: microcode and family/model/stepping on libvirt without
    <signature>; and the marketing model name."""
    res = (raw_host.get("shell") or {}).get("cpuinfo")
    if not res or res.get("rc") != 0:
        return {}
    info = parse_cpuinfo(res.get("out") or "")
    out = {"cpu_model_name": info.get("model_name")}
    if not fields.get("cpu_microcode") and info.get("microcode"):
        out["cpu_microcode"] = info["microcode"]
    if not fields.get("cpu_signature") and all(k in info for k in ("family", "model", "stepping")):
        out["cpu_signature"] = (info["family"], info["model"], info["stepping"])
    return out


def parse_host(name: str, raw_host: dict) -> HostFacts:
    """One host's raw facts -> HostFacts; every gap is named in fact_errors."""
    raw_host = raw_host or {}
    common = dict(name=name, address=raw_host.get("address"),
                  round_trips=raw_host.get("round_trips") or 0,
                  libvirt_calls=raw_host.get("libvirt_calls") or 0)
    if not raw_host.get("reachable", False):
        why = raw_host.get("error") or "host was not reached"
        return HostFacts(reachable=False, error=why,
                         fact_errors={key: f"host unreachable: {why}" for key in HOST_FACT_KEYS},
                         **common)
    errors: dict = {}
    fields = _parse_shell(raw_host, errors)
    fields.update(parse_host_storage_fields(raw_host, errors))   # fstab, mount_units, qemu_user
    fields.update(_parse_libvirt(raw_host, errors))
    fields.update(parse_storage_fields(raw_host, errors))        # block, qemu_caps, pools, chains
    fields.update(parse_access_fields(raw_host, errors))         # cluster_stack, image_access, secrets
    fields.update(_cpuinfo_fields(raw_host, fields))
    fields.update(parse_compat_fields(raw_host, errors))         # kvm_device, memory, numa, time, filters
    # Raw errors for keys parsed elsewhere or not parsed yet are kept under their fact key,
    # so that nothing is dropped silently. "hostname" is ambiguous in the raw record (shell
    # `hostname` and libvirt getHostname): both readers above already consumed it.
    for key, why in (raw_host.get("errors") or {}).items():
        if key == "hostname":
            continue
        errors.setdefault(_RAW_ERROR_KEYS.get(key, key), why)
    return HostFacts(reachable=True, fact_errors=errors, **fields, **common)


def _parse_probe(raw: dict) -> PortProbe:
    return PortProbe(port=int(raw["port"]), purpose=str(raw.get("purpose") or "migration"),
                     target=str(raw.get("target") or "?"), outcome=str(raw.get("outcome") or "error"),
                     detail=raw.get("detail"), elapsed_ms=raw.get("elapsed_ms"),
                     confirmed=raw.get("confirmed"), listener=raw.get("listener"))


def parse_pair(raw_pair: dict) -> PairFacts:
    """One (source, destination) pair's raw facts -> PairFacts."""
    raw_errors = dict(raw_pair.get("errors") or {})
    errors: dict = {}
    cpu = {}
    if raw_pair.get("cpu") is None:
        errors["cpu"] = raw_errors.get("cpu") or "no CPU comparison was recorded"
    else:
        for domain, verdict in raw_pair["cpu"].items():
            verdict = verdict or {}
            # records made before "compared" existed compared the migratable (configured) <cpu>
            cpu[domain] = CpuVerdict(result=verdict.get("result"), message=verdict.get("message"),
                                     compared=verdict.get("compared") or CONFIGURED,
                                     missing=missing_features(verdict.get("message")))
    probes = ()
    if raw_pair.get("probes") is None:
        errors["probes"] = raw_errors.get("probes") or "no port probe was recorded"
    else:
        probes = _parse_into("probes", errors, lambda items: tuple(_parse_probe(p) for p in items),
                             raw_pair["probes"]) or ()
    if not raw_pair.get("resolved"):
        errors["resolved"] = raw_errors.get("resolved") or "the destination's name was not resolved"
    for key, why in raw_errors.items():
        errors.setdefault(key, why)
    return PairFacts(source=raw_pair.get("source"), destination=raw_pair.get("destination"),
                     cpu=cpu, probes=probes, resolved=raw_pair.get("resolved") or None,
                     fact_errors=errors, round_trips=raw_pair.get("round_trips") or 0)


def parse_record(record: dict) -> ClusterFacts:
    """A whole raw facts record (see preflight.facts.raw) -> ClusterFacts."""
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        got = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise RecordError(f"not a {FORMAT} record (format: {got!r})")
    hosts = {name: parse_host(name, raw) for name, raw in (record.get("hosts") or {}).items()}
    pairs = {}
    for raw_pair in record.get("pairs") or ():
        pair = parse_pair(raw_pair)
        pairs[(pair.source, pair.destination)] = pair
    return ClusterFacts(name=record.get("cluster") or "?", hosts=hosts, pairs=pairs,
                        storage_hosts=tuple(record.get("storage_hosts") or ()),
                        storage=parse_storage_hosts(record))
