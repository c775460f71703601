"""Host-compatibility facts (issue 10) in the host's ONE batched shell exec, parsed into CompatFacts.

The commands ride the existing batch (raw.SHELL_FACTS is extended with COMPAT_SHELL_FACTS): no
round trip is added. Each becomes a fact key of preflight.facts.keys; a recording made before a
command was gathered lacks its shell key, and the key is then named in HostFacts.fact_errors
("... was not gathered"), so the checks requiring it say ERROR, never PASS.

=============  ==========================================  ===================================
fact key       shell keys                                  CompatFacts field(s)
=============  ==========================================  ===================================
kvm_device     kvm_dev (stat of /dev/kvm, misc dev, ids)   kvm, kvm_ids
memory         meminfo, hugepages                          meminfo, hugepages
numa           numa_nodes, nproc                           numa, host_cpus
time_sync      chrony, timedatectl, ntpq                   chrony, timedatectl, ntpd_synced
packet_filter  nft, iptables, firewalld_*                  filters (compat.packet.HostFilters)
(evidence)     smbios_uuid (root; absent on many VMs)      smbios_uuid
=============  ==========================================  ===================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from preflight.facts.firewalld import parse_list_all_zones
from preflight.facts.hugepages import parse_hugepages
from preflight.facts.iptables import parse_iptables_save
from preflight.facts.kvmdev import KvmDevice, parse_kvm_stat
from preflight.facts.meminfo import MemInfo, parse_meminfo
from preflight.facts.nftables import parse_nft_json
from preflight.facts.numa import NumaTopology, parse_sysfs_nodes
from preflight.facts.timesync import parse_chrony_tracking, parse_ntpq_peers, parse_timedatectl_show

# line 1: the stat (or "missing"), line 2: /sys/class/misc/kvm/dev (empty: kvm not loaded),
# line 3: "ids UID:GID" of /dev/kvm (whether QEMU's user may open it). Reads only.
KVM_DEV_SCRIPT = (
    "stat -L -c '%F|%t:%T|%a|%U|%G' /dev/kvm 2>/dev/null || echo missing; "
    "cat /sys/class/misc/kvm/dev 2>/dev/null || echo; "
    "printf 'ids %s\\n' \"$(stat -L -c '%u:%g' /dev/kvm 2>/dev/null)\"; exit 0")
_GLOB_READ = "grep -H . {} 2>/dev/null; exit 0"

COMPAT_SHELL_FACTS = {
    "kvm_dev": ["sh", "-c", KVM_DEV_SCRIPT],
    "smbios_uuid": ["cat", "/sys/class/dmi/id/product_uuid"],
    "meminfo": ["cat", "/proc/meminfo"],
    "hugepages": ["sh", "-c", _GLOB_READ.format(
        "/sys/kernel/mm/hugepages/hugepages-*/* /sys/devices/system/node/node*/hugepages/hugepages-*/*")],
    "numa_nodes": ["sh", "-c", _GLOB_READ.format(
        "/sys/devices/system/node/online /sys/devices/system/node/node*/cpulist "
        "/sys/devices/system/node/node*/distance")],
    "nproc": ["nproc", "--all"],
    # time sync: whichever exists (rc 127 = not installed, not an error)
    "chrony": ["chronyc", "-n", "tracking"],
    "timedatectl": ["timedatectl", "show"],
    "ntpq": ["ntpq", "-pn"],
    # firewalld: `--state` exits 252 when not running; zones only mean something when it runs
    "firewalld_state": ["firewall-cmd", "--state"],
    "firewalld_zones": ["firewall-cmd", "--list-all-zones"],
    "firewalld_default": ["firewall-cmd", "--get-default-zone"],
}

COMPAT_FACT_KEYS = ("kvm_device", "memory", "numa", "time_sync", "packet_filter")
ABSENT = 127            # the shell's "command not found"


@dataclass(frozen=True)
class CompatFacts:
    """What the host-compatibility checks read of one host. None = not known (see fact_errors)."""

    kvm: Optional[KvmDevice] = None
    kvm_ids: Optional[tuple] = None           # (uid, gid) owning /dev/kvm
    smbios_uuid: Optional[str] = None
    meminfo: Optional[MemInfo] = None
    hugepages: Optional[tuple] = None         # tuple[HugepagePool]
    numa: Optional[NumaTopology] = None
    host_cpus: Optional[int] = None
    chrony: Optional[object] = None           # ChronyTracking
    timedatectl: Optional[object] = None      # TimedatectlShow
    ntpd_synced: Optional[bool] = None
    time_tools_absent: bool = False          # no chrony, no ntpd, no systemd (see _no_time_service)
    filters: Optional[object] = None          # preflight.compat.packet.HostFilters


def _result(raw_host: dict, key: str) -> Optional[dict]:
    return (raw_host.get("shell") or {}).get(key)


def _not_gathered(raw_host: dict, key: str) -> str:
    why = (raw_host.get("errors") or {}).get(key)
    return why or f"`{' '.join(COMPAT_SHELL_FACTS[key])[:80]}` was not gathered (a recording made " \
                  f"before preflight gathered it?)"


def _ok(res: Optional[dict]) -> Optional[str]:
    return (res.get("out") or "") if res is not None and res.get("rc") == 0 else None


def _why_failed(key: str, res: dict) -> str:
    err = " ".join((res.get("err") or "").split())[:300]
    return f"`{key}` exited {res.get('rc')}" + (f": {err}" if err else "")


def _parse(fact: str, errors: dict, func, *args):
    try:
        return func(*args)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        errors[fact] = f"could not parse {fact}: {exc}"[:500]
        return None


def _kvm(raw_host: dict, errors: dict) -> dict:
    res = _result(raw_host, "kvm_dev")
    if res is None:
        errors["kvm_device"] = _not_gathered(raw_host, "kvm_dev")
        return {}
    out = _ok(res)
    if out is None:
        errors["kvm_device"] = _why_failed("kvm_dev", res)
        return {}
    lines = out.splitlines() + ["", "", ""]
    dev = _parse("kvm_device", errors, parse_kvm_stat, lines[0], lines[1])
    ids = None
    if lines[2].startswith("ids ") and ":" in lines[2]:
        uid, _, gid = lines[2][4:].strip().partition(":")
        ids = (int(uid), int(gid)) if uid.isdigit() and gid.isdigit() else None
    return {"kvm": dev, "kvm_ids": ids} if dev is not None else {}


def _memory(raw_host: dict, errors: dict) -> dict:
    fields = {}
    for key, field, func in (("meminfo", "meminfo", parse_meminfo), ("hugepages", "hugepages", parse_hugepages)):
        res = _result(raw_host, key)
        if res is None:
            errors["memory"] = _not_gathered(raw_host, key)
            continue
        out = _ok(res)
        if out is None:
            errors["memory"] = _why_failed(key, res)
            continue
        value = _parse("memory", errors, func, out)
        if value is not None:
            fields[field] = value
    return fields


def _numa(raw_host: dict, errors: dict) -> dict:
    fields = {}
    res = _result(raw_host, "nproc")
    if res is None:
        errors["numa"] = _not_gathered(raw_host, "nproc")
    elif _ok(res) is not None and _ok(res).strip().isdigit():
        fields["host_cpus"] = int(_ok(res).strip())
    res = _result(raw_host, "numa_nodes")
    if res is None:
        errors["numa"] = _not_gathered(raw_host, "numa_nodes")
    elif (_ok(res) or "").strip():
        topo = _parse("numa", errors, parse_sysfs_nodes, _ok(res))
        if topo is not None:
            fields["numa"] = topo
    else:
        errors["numa"] = "/sys/devices/system/node could not be read"
    return fields


def _no_time_service(results: dict) -> bool:
    """chronyc and ntpq not installed, and timedatectl either not installed or telling that systemd is
    not the init system (then systemd-timesyncd, the only service it reports on, cannot run)."""
    if any(results[k] is None or results[k].get("rc") != ABSENT for k in ("chrony", "ntpq")):
        return False
    td = results["timedatectl"]
    return td is not None and (td.get("rc") == ABSENT or (
        td.get("rc") != 0 and "not been booted with systemd" in (td.get("err") or "")))


def _time(raw_host: dict, errors: dict) -> dict:
    results = {k: _result(raw_host, k) for k in ("chrony", "timedatectl", "ntpq")}
    if all(r is None for r in results.values()):
        errors["time_sync"] = _not_gathered(raw_host, "chrony")
        return {}
    fields = {}
    if _no_time_service(results):
        # not a failure to read: an observed fact (no chrony, no ntpd, no systemd to run timesyncd)
        return {"time_tools_absent": True}
    # a tool that ran but printed nothing usable is simply no evidence; judge_sync says ERROR
    # when none of them gave any
    if _ok(results["chrony"]):
        fields["chrony"] = _parse("time_sync", {}, parse_chrony_tracking, _ok(results["chrony"]))
    if _ok(results["timedatectl"]):
        fields["timedatectl"] = _parse("time_sync", {}, parse_timedatectl_show, _ok(results["timedatectl"]))
    if _ok(results["ntpq"]):
        peers = _parse("time_sync", {}, parse_ntpq_peers, _ok(results["ntpq"]))
        if peers is not None:
            fields["ntpd_synced"] = any(p.tally == "*" for p in peers)
    return {k: v for k, v in fields.items() if v is not None}


def _filters(raw_host: dict, errors: dict) -> dict:
    """HostFilters for compat.packet: the nft ruleset, iptables-save, firewalld's zones (when it runs)."""
    from preflight.facts.packet_filters import HostFilters

    nft_res, ipt_res = _result(raw_host, "nft"), _result(raw_host, "iptables")
    state = _result(raw_host, "firewalld_state")
    if nft_res is None or state is None:
        errors["packet_filter"] = _not_gathered(raw_host, "firewalld_state") if state is None else \
            (raw_host.get("errors") or {}).get("nft") or "`nft -j list ruleset` was not gathered"
        return {}
    kw: dict = {}
    if nft_res.get("rc") == 0:
        kw["nft"] = _parse("packet_filter", errors, parse_nft_json, nft_res.get("out") or "")
        kw["nft_read"] = kw["nft"] is not None
    elif nft_res.get("rc") != ABSENT:
        errors["packet_filter"] = _why_failed("nft -j list ruleset", nft_res) + " (needs root)"
        return {}
    if ipt_res is not None and ipt_res.get("rc") == 0 and (ipt_res.get("out") or "").strip():
        kw["iptables"] = _parse("packet_filter", errors, parse_iptables_save, ipt_res["out"])
        kw["iptables_read"] = kw["iptables"] is not None
    if state.get("rc") == 0 and "running" in (state.get("out") or ""):
        zones = _ok(_result(raw_host, "firewalld_zones") or {})
        if zones is None:
            errors["packet_filter"] = "firewalld runs but `firewall-cmd --list-all-zones` failed"
            return {}
        kw["firewalld_zones"] = _parse("packet_filter", errors, parse_list_all_zones, zones)
        kw["firewalld_default"] = (_ok(_result(raw_host, "firewalld_default") or {}) or "").strip() or None
    if "packet_filter" in errors:
        return {}
    return {"filters": HostFilters(**{k: v for k, v in kw.items() if v is not None})}


def parse_compat_fields(raw_host: dict, errors: dict) -> dict:
    """{"compat": CompatFacts} for HostFacts; every gap named in `errors` under its fact key."""
    fields: dict = {}
    for part in (_kvm, _memory, _numa, _time, _filters):
        fields.update(part(raw_host, errors))
    smbios = _ok(_result(raw_host, "smbios_uuid"))
    if smbios and smbios.strip():
        fields["smbios_uuid"] = smbios.strip().lower()
    return {"compat": CompatFacts(**fields)}
