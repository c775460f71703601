"""Gather one host's raw facts (see `preflight.facts.raw`): two batched execs + libvirt calls.

Shell facts: ONE exec of a generated POSIX sh script on stdin (`sh -s`) that runs each argv of
`SHELL_FACTS` with its own rc/stdout/stderr captured, separated by a random marker, parsed
back into `{"rc", "out", "err"}` per key.

libvirt facts: through a `LibvirtBridge` on the same SSH connection, every call time-bounded
and counted (storage pools, and the volumes domains reference, included). Every domain's
migratable XML, and for running ones also the live XML (flags 0): the CPU the guest really
runs with and its disks' <backingStore> chains (see `_gather_live_xml`).

Backing chains and image access: a SECOND (and last) batched exec, after libvirt, because it
needs the domain list: `qemu-img info -f FMT --backing-chain -U --output=json -- IMAGE`, under
limits, only for qcow2-family images whose live XML has no <backingStore> chain (see
preflight.facts.chain_probe: guest images are never format-probed), `stat -L` of writable
images, their directories and the shared mount
points, and `id`/`getent` for QEMU's user (see `image_access_plan`). No more execs per host,
whatever the number of disks (only the intrusive, opt-in --write-test adds one:
preflight.facts.write_test). Secrets: identity only (`_gather_secrets`), never a value.

Secrets are scrubbed here, before anything is stored: recordings go to disk and reports.
A fact that fails goes into "errors" with why; a host is never crashed as a whole.
"""

from __future__ import annotations

import re
import secrets
import shlex
from typing import Callable, Optional

from preflight.facts.caps import DEFAULT_CAPS, HostCaps
from preflight.facts.chain_probe import chain_targets, qemu_img_argv
from preflight.facts.raw import SHELL_FACTS
from preflight.facts.xmlsafe import UnsafeXMLError, parse_xml, parse_xml_or_none
from preflight.scrub import (MASK, scrub_conf_text, scrub_iscsi_sessions, scrub_mount_options,  # noqa: F401
                             scrub_shell_fact, scrub_xml_text)
from preflight.transport.errors import TransportError

__all__ = [
    "gather_host", "gather_shell", "gather_libvirt", "chain_targets", "unreachable_entry",
    "gather_image_batch", "image_access_plan",
    "build_facts_script", "parse_facts_output",
    "scrub_domain_xml", "scrub_conf_text", "scrub_mount_options", "scrub_shell_fact",
    "DOMAIN_STATES", "MASK",
]

PER_COMMAND_TIMEOUT = 20          # seconds, via coreutils `timeout` when the host has it
# W9: resource limits of every command of a batch, set by the shell (`ulimit`, inherited by the
# command's children) in a subshell, so they hold where coreutils `timeout` is missing too:
COMMAND_CPU_S = 30                # CPU seconds (SIGXCPU, exit 152)
COMMAND_OUTPUT_BYTES = 16 << 20   # bytes of stdout, and of stderr, each (SIGXFSZ, exit 153)
# address space of the tools that parse data guests, devices or network servers control
# (blkid, iscsiadm, multipath, lsblk; qemu-img gets its own in preflight.facts.chain_probe)
UNTRUSTED_AS_BYTES = 1 << 30
UNTRUSTED_INPUT_FACTS = frozenset({"blkid", "iscsi_sessions", "multipath", "lsblk"})

DOMAIN_STATES = {0: "nostate", 1: "running", 2: "blocked", 3: "paused", 4: "shutdown",
                 5: "shutoff", 6: "crashed", 7: "pmsuspended"}


# --- the batched shell facts ------------------------------------------------------------

def build_facts_script(facts: dict, marker: str, per_command_timeout: int = PER_COMMAND_TIMEOUT,
                       untrusted: frozenset = UNTRUSTED_INPUT_FACTS) -> str:
    """A POSIX sh script that runs every argv of `facts` and prints, per key:

        MARKER KEY rc N\\n MARKER KEY out\\n<stdout>\\nMARKER KEY err\\n<stderr>\\nMARKER KEY end\\n

    (the newline before each of `err`/`end` lines is added by the script and removed by the
    parser, so outputs come back byte-exact). stdin of each command is /dev/null. Every command
    runs under COMMAND_CPU_S and COMMAND_OUTPUT_BYTES, those of `untrusted` also under
    UNTRUSTED_AS_BYTES of address space (W9)."""
    if not re.fullmatch(r"[A-Za-z0-9_]+", marker):
        raise ValueError("marker must be alphanumeric")
    lines = [
        "umask 077",
        # no fallback name: a predictable /tmp/preflight.$$ lets any local user plant a symlink
        # that root then writes through (V8). No private directory, no facts.
        'd=$(mktemp -d 2>/dev/null) && [ -d "$d" ] || { echo "preflight: mktemp -d failed on this host:'
        ' no private temporary directory, nothing run" >&2; exit 97; }',
        "trap 'rm -rf \"$d\"' EXIT",
        f"T=; if command -v timeout >/dev/null 2>&1; then T='timeout {int(per_command_timeout)}'; fi",
        # ulimit -f counts 512-byte blocks (POSIX; dash, and bash as sh), -v KiB
        # (soft CPU limit first: SIGXCPU, exit 152; the hard one 10 s later kills what ignores it)
        f"L='ulimit -H -t {COMMAND_CPU_S + 10}; ulimit -S -t {COMMAND_CPU_S}; ulimit -f {COMMAND_OUTPUT_BYTES // 512}'",
        f"LU=\"$L; ulimit -v {UNTRUSTED_AS_BYTES // 1024}\"",
        "pf_run() {",
        '  k=$1; l=$2; shift 2',
        '  ( eval "$l" 2>/dev/null; exec $T "$@" ) >"$d/o" 2>"$d/e" </dev/null; rc=$?',
        f'  printf "%s %s rc %s\\n" {marker} "$k" "$rc"',
        f'  printf "%s %s out\\n" {marker} "$k"; cat "$d/o"',
        f'  printf "\\n%s %s err\\n" {marker} "$k"; cat "$d/e"',
        f'  printf "\\n%s %s end\\n" {marker} "$k"',
        "}",
    ]
    for key, argv in facts.items():
        if not re.fullmatch(r"[A-Za-z0-9_.:-]+", key):
            raise ValueError(f"bad fact key {key!r}")
        limits = '"$LU"' if key in untrusted else '"$L"'
        lines.append(f"pf_run {shlex.quote(key)} {limits} {shlex.join(list(argv))}")
    return "\n".join(lines) + "\n"


LIMIT_EXITS = {
    152: f"stopped by its CPU limit of {COMMAND_CPU_S} s on the host (ulimit -t): a hostile or broken "
         "command; its output is incomplete",
    153: f"its output passed the host-side cap of {COMMAND_OUTPUT_BYTES >> 20} MiB (ulimit -f): a hostile "
         "or broken command; its output is incomplete",
}


def parse_facts_output(data: bytes, marker: str, keys) -> tuple:
    """Parse the batched script's stdout -> ({key: {"rc","out","err"}}, {key: why missing})."""
    if isinstance(data, str):
        data = data.encode()
    m = marker.encode()
    facts, errors = {}, {}
    for key in keys:
        k = key.encode()
        head = re.search(rb"(?m)^" + re.escape(m + b" " + k + b" rc ") + rb"(-?\d+)\n", data)
        if not head:
            errors[key] = "no output for this fact (the batched script stopped before it)"
            continue
        out_tag = m + b" " + k + b" out\n"
        err_tag = b"\n" + m + b" " + k + b" err\n"
        end_tag = b"\n" + m + b" " + k + b" end\n"
        o = data.find(out_tag, head.end() - 1)
        e = data.find(err_tag, o)
        z = data.find(end_tag, e)
        if min(o, e, z) < 0:
            errors[key] = "truncated output for this fact"
            continue
        rc = int(head.group(1))
        facts[key] = {
            "rc": rc,
            "out": data[o + len(out_tag):e].decode("utf-8", "replace"),
            "err": data[e + len(err_tag):z].decode("utf-8", "replace"),
        }
        if rc == 124 and not facts[key]["err"]:
            facts[key]["err"] = f"timed out after {PER_COMMAND_TIMEOUT} s on the host"
        elif rc in LIMIT_EXITS:
            facts[key]["err"] = (LIMIT_EXITS[rc] + "; " + facts[key]["err"]).strip("; ")
    return facts, errors


def gather_shell(conn, facts: Optional[dict] = None, timeout: Optional[float] = None) -> tuple:
    """Run all shell facts in ONE exec. Returns (shell dict, errors dict)."""
    facts = SHELL_FACTS if facts is None else facts
    marker = "PFM" + secrets.token_hex(12)
    script = build_facts_script(facts, marker)
    try:
        res = conn.run_script(script, timeout=timeout)
    except TransportError as exc:
        return {}, {key: f"batched shell facts failed: {exc}" for key in facts}
    shell, errors = parse_facts_output(res.stdout_bytes, marker, facts.keys())
    if errors:
        why = f" (sh exited {res.rc}: {' '.join(res.stderr.split())[:300]})" if res.rc or res.stderr.strip() else ""
        errors = {k: v + why for k, v in errors.items()}
    for key, value in shell.items():
        value["out"] = scrub_shell_fact(key, value["out"])
    return shell, errors


# --- scrubbing (preflight.scrub: one scrubber for the record and every report) -----------

def scrub_domain_xml(xml: str, what: str = "domain XML") -> str:
    """A domain (or network) XML with its secrets removed by structure (preflight.scrub).
    Raises UnsafeXMLError for what the safe parser refuses: such a document is never stored."""
    return scrub_xml_text(xml, what)


# --- libvirt facts ------------------------------------------------------------------------

def _host_arch_and_virttype(caps_xml: str) -> tuple:
    """(arch, virttype) from capabilities: the host CPU arch, kvm when a guest of that arch
    offers <domain type='kvm'>, else qemu."""
    root = parse_xml(caps_xml, "capabilities XML")
    arch = root.findtext("host/cpu/arch") or "x86_64"
    virttype = "qemu"
    for guest in root.findall("guest"):
        a = guest.find("arch")
        if a is not None and a.get("name") == arch and a.find("domain[@type='kvm']") is not None:
            virttype = "kvm"
    return arch, virttype


def gather_libvirt(bridge, errors: dict, caps: HostCaps = DEFAULT_CAPS, host: str = "this host") -> dict:
    """All libvirt facts of one host. `bridge` is an open LibvirtBridge; failures of single
    facts land in `errors` under the fact's key (or `domain:NAME` for one domain). Lists and
    documents past `caps` are refused whole (preflight.facts.caps)."""
    import libvirt
    conn = bridge.conn
    out: dict = {}
    budget = [caps.max_host_xml_bytes]      # bytes of XML this host may still hand back

    def take_xml(text, what: str) -> str:
        """One XML document within the per-document and per-host caps (UnsafeXMLError past them)."""
        size = len(text or "")
        if size > caps.max_xml_bytes:
            raise UnsafeXMLError(f"{what} of {size} bytes is more than the cap of {caps.max_xml_bytes} "
                                 "(max_xml_bytes in the inventory): a hostile or broken host? not read")
        budget[0] -= size
        if budget[0] < 0:
            raise _HostXmlSpent(f"{host} handed back more than {caps.max_host_xml_bytes} bytes of libvirt XML, "
                                "the cap (max_host_xml_bytes in the inventory): a hostile or broken host? "
                                "the rest was not read")
        return text

    def fact(key, what, fn, *args):
        try:
            out[key] = bridge.call(what, fn, *args)
        except TransportError as exc:
            errors[key] = str(exc)

    fact("lib_version", "getLibVersion", conn.getLibVersion)
    fact("hv_version", "getVersion", conn.getVersion)
    fact("hostname", "getHostname", conn.getHostname)
    fact("capabilities", "getCapabilities", conn.getCapabilities)
    if "capabilities" in out:
        try:
            arch, virttype = _host_arch_and_virttype(out["capabilities"])
        except Exception as exc:                      # noqa: BLE001
            arch, virttype = "x86_64", "kvm"
            errors["domcapabilities_args"] = f"could not read arch from capabilities: {exc}"
        try:
            out["domcapabilities"] = bridge.call("getDomainCapabilities", conn.getDomainCapabilities,
                                                 None, arch, None, virttype, 0)
        except TransportError as exc:
            if virttype == "kvm":
                errors["domcapabilities"] = str(exc)
            else:
                errors["domcapabilities"] = f"{exc} (no kvm domain type for {arch})"
    else:
        errors["domcapabilities"] = "not attempted: capabilities unavailable"

    try:
        doms = bridge.call("listAllDomains", conn.listAllDomains, 0)
    except TransportError as exc:
        errors["domains"] = str(exc)
    else:
        too_many = caps.over("domains", len(doms), caps.max_domains, "max_domains", host)
        if too_many:
            errors["domains"] = too_many
            doms = []
        domains = []
        for dom in doms:
            entry: dict = {}
            try:
                entry["name"] = bridge.call("domain.name", dom.name)
                entry["uuid"] = bridge.call("domain.UUIDString", dom.UUIDString)
                state = bridge.call("domain.state", dom.state, 0)
                entry["state"] = DOMAIN_STATES.get(state[0], str(state[0]))
                entry["active"] = bool(bridge.call("domain.isActive", dom.isActive))
                entry["persistent"] = bool(bridge.call("domain.isPersistent", dom.isPersistent))
                xml = take_xml(bridge.call("domain.XMLDesc", dom.XMLDesc, libvirt.VIR_DOMAIN_XML_MIGRATABLE),
                               "the domain XML")
                disks = xml.count("<disk")
                if disks > caps.max_disks:
                    raise UnsafeXMLError(f"the domain XML has {disks} disks, more than the cap of {caps.max_disks} "
                                         "(max_disks in the inventory): a hostile or broken host? not judged")
                entry["xml"] = scrub_domain_xml(xml)
            except (TransportError, UnsafeXMLError) as exc:
                name = entry.get("name") or entry.get("uuid") or "?"
                errors[f"domain:{name}"] = str(exc)
                entry.setdefault("name", name)
                entry.setdefault("xml", None)
            except _HostXmlSpent as exc:
                errors["domains"] = str(exc)
                break
            else:
                if entry["active"]:
                    try:
                        _gather_live_xml(bridge, dom, entry, errors, take_xml)
                    except _HostXmlSpent as exc:
                        errors["domains"] = str(exc)
                        break
            domains.append(entry)
        del doms
        if "domains" not in errors:
            out["domains"] = domains

    try:
        nets = bridge.call("listAllNetworks", conn.listAllNetworks, 0)
    except TransportError as exc:
        errors["networks"] = str(exc)
    else:
        too_many = caps.over("libvirt networks", len(nets), caps.max_pools, "max_pools", host)
        if too_many:
            errors["networks"] = too_many
            nets = []
        networks = []
        for net in nets:
            entry = {}
            try:
                entry["name"] = bridge.call("network.name", net.name)
                entry["active"] = bool(bridge.call("network.isActive", net.isActive))
                entry["persistent"] = bool(bridge.call("network.isPersistent", net.isPersistent))
                entry["autostart"] = bool(bridge.call("network.autostart", net.autostart))
                entry["xml"] = scrub_domain_xml(take_xml(bridge.call("network.XMLDesc", net.XMLDesc, 0),
                                                         "the network XML"), "network XML")
            except (TransportError, UnsafeXMLError) as exc:
                errors[f"network:{entry.get('name', '?')}"] = str(exc)
                entry.setdefault("name", "?")
                entry.setdefault("xml", None)
            except _HostXmlSpent as exc:
                errors["networks"] = str(exc)
                break
            networks.append(entry)
        del nets
        if "networks" not in errors:
            out["networks"] = networks
    try:
        _gather_pools(bridge, out, errors, caps, host, take_xml)
    except _HostXmlSpent as exc:
        out.pop("pools", None)
        errors["pools"] = str(exc)
    _gather_secrets(bridge, out, errors)
    return out


class _HostXmlSpent(Exception):
    """The host's XML byte budget is spent (preflight.facts.caps): stop reading from it."""


def _gather_live_xml(bridge, dom, entry: dict, errors: dict, take_xml=lambda x, what: x) -> None:
    """The running guest's live XML (flags 0: never VIR_DOMAIN_XML_SECURE), scrubbed like the
    migratable one. It holds what the guest really runs with: the CPU libvirt verified and
    updated at start (check='full', features QEMU could not enable marked disabled; the
    migratable XML shows the configured CPU instead) and the disks' <backingStore> chains.
    A failure costs only this key: "live_xml" None, the reason in errors["live_xml:NAME"]."""
    try:
        live = take_xml(bridge.call("domain.XMLDesc(live)", dom.XMLDesc, 0), "the live domain XML")
        entry["live_xml"] = scrub_domain_xml(live, "live domain XML")
    except (TransportError, UnsafeXMLError) as exc:
        entry["live_xml"] = None
        errors[f"live_xml:{entry['name']}"] = str(exc)


def _gather_secrets(bridge, out: dict, errors: dict) -> None:
    """libvirt secrets: uuid, usage type, usage id, ephemeral/private flags. NEVER the value:
    virSecretGetValue is not called, and of the secret's XML only two root attributes are kept."""
    from preflight.facts.storage_access import MAX_SECRETS, SECRET_USAGE_TYPES, secret_flags
    conn = bridge.conn
    try:
        objs = bridge.call("listAllSecrets", conn.listAllSecrets, 0)
    except TransportError as exc:
        errors["secrets"] = str(exc)
        return
    found = []
    for sec in objs[:MAX_SECRETS]:
        entry: dict = {}
        try:
            entry["uuid"] = bridge.call("secret.UUIDString", sec.UUIDString)
            kind = bridge.call("secret.usageType", sec.usageType)
            entry["usage_type"] = SECRET_USAGE_TYPES.get(kind, str(kind))
            entry["usage_id"] = bridge.call("secret.usageID", sec.usageID) or None
            entry["ephemeral"], entry["private"] = secret_flags(bridge.call("secret.XMLDesc", sec.XMLDesc, 0))
        except TransportError as exc:
            errors[f"secret:{entry.get('uuid', '?')}"] = str(exc)
            entry.setdefault("uuid", "?")
        found.append(entry)
    out["secrets"] = found
    if len(objs) > MAX_SECRETS:
        out["secrets_truncated"] = True
    del objs


MAX_VOLUMES = 256          # referenced volumes looked up per host (each costs 2 calls)


def _referenced_volumes(domains) -> list:
    """(pool, volume) pairs named by <disk type='volume'> in the gathered domain XMLs."""
    seen = []
    for dom in domains or ():
        root = parse_xml_or_none(dom.get("xml"), "domain XML")
        if root is None:
            continue
        for src in root.findall("devices/disk[@type='volume']/source"):
            ref = (src.get("pool"), src.get("volume"))
            if all(ref) and ref not in seen:
                seen.append(ref)
    return seen


def _gather_pools(bridge, out: dict, errors: dict, caps: HostCaps = DEFAULT_CAPS, host: str = "this host",
                  take_xml=lambda x, what: x) -> None:
    """Storage pools (name, active, XML) and the path of every volume a domain references."""
    conn = bridge.conn
    try:
        pool_objs = bridge.call("listAllStoragePools", conn.listAllStoragePools, 0)
    except TransportError as exc:
        errors["pools"] = str(exc)
        return
    too_many = caps.over("storage pools", len(pool_objs), caps.max_pools, "max_pools", host)
    if too_many:
        errors["pools"] = too_many
        return
    pools, by_name = [], {}
    for pool in pool_objs:
        entry: dict = {}
        try:
            entry["name"] = bridge.call("pool.name", pool.name)
            entry["active"] = bool(bridge.call("pool.isActive", pool.isActive))
            entry["xml"] = take_xml(bridge.call("pool.XMLDesc", pool.XMLDesc, 0), "the pool XML")
            by_name[entry["name"]] = pool
        except (TransportError, UnsafeXMLError) as exc:
            errors[f"pool:{entry.get('name', '?')}"] = str(exc)
            entry.setdefault("name", "?")
            entry.setdefault("xml", None)
        pools.append(entry)
    out["pools"] = pools
    volumes = []
    for pool_name, vol_name in _referenced_volumes(out.get("domains"))[:MAX_VOLUMES]:
        entry = {"pool": pool_name, "volume": vol_name, "path": None, "error": None}
        pool = by_name.get(pool_name)
        if pool is None:
            entry["error"] = f"no storage pool named {pool_name!r} on this host"
        else:
            try:
                vol = bridge.call("pool.storageVolLookupByName", pool.storageVolLookupByName, vol_name)
                entry["path"] = bridge.call("volume.path", vol.path)
                del vol
            except TransportError as exc:
                entry["error"] = str(exc)
        volumes.append(entry)
    out["volumes"] = volumes
    del pool_objs, by_name


# --- the second exec: backing chains ------------------------------------------------------



def image_access_plan(shell: dict, libvirt_facts: dict) -> tuple:
    """(access part of the raw "image_access" entry, fact keys -> argv for the second exec):
    QEMU's user/group from qemu.conf, `id`/`getent` for its ids, `stat -L` of every writable
    image with its ancestors and of the shared mount points with theirs. Reads only."""
    from preflight.facts.qemu_conf import parse_qemu_conf, qemu_identity
    from preflight.facts.storage_access import access_keys, access_paths, shared_mountpoints
    res = (shell or {}).get("qemu_conf")
    acc: dict = {"user": None, "group": None}
    if res is None or res.get("rc") != 0:
        acc["why"] = "/etc/libvirt/qemu.conf could not be read: the user QEMU runs as is unknown"
    else:
        ident = qemu_identity(res.get("out") or "")
        caps = parse_qemu_conf(res.get("out") or "", prefix="clear_emulator_capabilities")
        acc.update(user=ident["user"], group=ident["group"], dynamic_ownership=ident["dynamic_ownership"],
                   keeps_caps=caps.get("clear_emulator_capabilities", 1) == 0)
        if not ident["user"]:
            acc["why"] = "qemu.conf names no user and has no commented default: QEMU's user is unknown"
    mountinfo = ((shell or {}).get("mountinfo") or {}).get("out") or ""
    keys = access_keys(access_paths(libvirt_facts or {}), shared_mountpoints(mountinfo),
                       acc["user"], acc["group"])
    return acc, keys


def gather_image_batch(conn, chain_list: list, access: dict, access_argv: dict,
                       timeout: Optional[float] = None) -> tuple:
    """The host's SECOND (and last) exec: qemu-img backing chains + the image access facts.
    Returns (chains, image_access entry, error or None)."""
    keys = {f"chain_{i}": qemu_img_argv(t, fmt) for i, (t, fmt) in enumerate(chain_list)}
    keys.update(access_argv)
    if not keys:
        return {}, dict(access, stats={}), None
    marker = "PFM" + secrets.token_hex(12)
    try:
        res = conn.run_script(build_facts_script(keys, marker), timeout=timeout)
    except TransportError as exc:
        return None, None, f"batched qemu-img info / stat failed: {exc}"
    got, missing = parse_facts_output(res.stdout_bytes, marker, keys.keys())

    def result(key):
        return got.get(key) or {"rc": -1, "out": "", "err": missing.get(key, "no output")}
    chains = {t: result(f"chain_{i}") for i, (t, _fmt) in enumerate(chain_list)}
    entry = dict(access)
    for name, key in (("uid", "qemu_uid"), ("gid", "qemu_gid"), ("groups", "qemu_groups"),
                      ("group_ent", "qemu_group_ent")):
        if key in keys:
            entry[name] = result(key)
    entry["stats"] = {k: result(k) for k in keys if k.startswith("stat_")}
    return chains, entry, None


# --- one host -----------------------------------------------------------------------------

def unreachable_entry(address: Optional[str], error: str) -> dict:
    return {"address": address, "reachable": False, "error": " ".join(str(error).split()),
            "round_trips": 0, "libvirt_calls": 0, "shell": {}, "libvirt": {}, "errors": {}}


def gather_host(conn, *, bridge=None, libvirt_timeout: float = 30.0, shell_timeout: Optional[float] = None,
                facts: Optional[dict] = None, progress: Optional[Callable] = None,
                bridge_factory=None, caps: HostCaps = DEFAULT_CAPS) -> dict:
    """One host entry of the raw record, from an open SSH `Connection`.

    `bridge`: an unopened (or open) LibvirtBridge to use and leave open for the caller (the
    pair phase needs it); when None a bridge is made, used and closed here.
    Never raises for a fact: failures go to "errors"."""
    def note(stage, info=None):
        if progress:
            progress(conn.name, stage, info)

    entry = {"address": conn.address, "reachable": True, "error": None,
             "round_trips": 0, "libvirt_calls": 0, "shell": {}, "libvirt": {}, "errors": {}}
    note("facts")
    shell, errors = gather_shell(conn, facts, shell_timeout)
    entry["shell"] = shell
    entry["errors"].update(errors)

    own = bridge is None
    if own:
        if bridge_factory is None:
            from preflight.transport.libvirt_bridge import LibvirtBridge as bridge_factory
        bridge = bridge_factory(conn, call_timeout=libvirt_timeout)
    note("libvirt")
    try:
        if bridge.conn is None:
            bridge.open()
        entry["libvirt"] = gather_libvirt(bridge, entry["errors"], caps, conn.name)
    except ImportError as exc:
        entry["errors"]["libvirt"] = f"libvirt-python is not installed here: {exc}"
    except TransportError as exc:
        entry["errors"]["libvirt"] = str(exc)
    except Exception as exc:                                     # noqa: BLE001 - never crash a host
        entry["errors"]["libvirt"] = f"{type(exc).__name__}: {exc}"
    finally:
        entry["libvirt_calls"] = bridge.calls
        if own:
            bridge.close()
    if "domains" in (entry["libvirt"] or {}):
        note("chains")
        access, access_argv = image_access_plan(entry["shell"], entry["libvirt"])
        chains, image_access, why = gather_image_batch(conn, chain_targets(entry["libvirt"]), access,
                                                       access_argv, shell_timeout)
        if why:
            entry["errors"]["chains"] = entry["errors"]["image_access"] = why
        else:
            entry["chains"] = chains
            entry["image_access"] = image_access
    else:
        entry["errors"].setdefault("chains", "not attempted: the domain list is unavailable")
        entry["errors"].setdefault("image_access", "not attempted: the domain list is unavailable")
    entry["round_trips"] = conn.round_trips
    note("gathered")
    return entry
