"""The inventory: which clusters exist, which hosts they have, and how to reach them.

TOML, found by `--inventory`, then $PREFLIGHT_INVENTORY, then ./preflight.toml, then
~/.config/preflight/inventory.toml. The built-in `demo` cluster (recorded lab facts) is
always there unless an inventory defines its own `demo`.

    [clusters.lab]
    hosts = ["hv1", "hv2", { name = "hv3", address = "10.0.0.13", port = 2222, user = "admin" }]
    storage_hosts = ["nas"]
    ssh_config = "/path/to/ssh_config"       # default: ~/.ssh/config
    known_hosts = "/path/to/known_hosts"     # default: ~/.ssh/known_hosts
    user = "root"
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from preflight.tomlfile import read_toml

DEMO_CLUSTER = "demo"
CLUSTER_KEYS = {
    "hosts": "list of host names or inline tables {name, address, port, user}",
    "storage_hosts": "list of storage hosts (NFS/iSCSI/Gluster servers) in the same form",
    "ssh_config": "path of an OpenSSH client config (default ~/.ssh/config)",
    "known_hosts": "path of the known_hosts file used for strict host-key checking (default ~/.ssh/known_hosts)",
    "user": "SSH user for every host (default: from ssh_config, else the local user)",
    "port": "SSH port for every host (default: from ssh_config, else 22)",
    "identity_file": "private key file (default: from ssh_config, the agent, ~/.ssh/id_*)",
    "probe_networks": "CIDRs the storage servers named by guests' disks and hosts' mounts must be in to be "
                      "probed (default: any address but loopback, link-local, multicast)",
    "max_domains": "domains one host may list before it is refused as hostile or broken (default 2000)",
    "max_pools": "storage pools (and libvirt networks) one host may list (default 1000)",
    "max_disks": "disks one domain may have (default 512)",
    "max_xml_bytes": "bytes of one domain/pool/network XML (default 8 MiB)",
    "max_host_xml_bytes": "bytes of libvirt XML one host may hand back in all (default 512 MiB)",
    "connect_timeout": "seconds to wait for SSH connect and authentication (default 10)",
    "command_timeout": "seconds a single remote command or libvirt call may take (default 60)",
    "replay": "a recorded facts file (preflight check --record) to check instead of connecting",
    "description": "free text shown in reports",
    "waivers": "accepted risks: a waivers file (path), or [[clusters.NAME.waivers]] tables "
               "(check, subject, reason, approver, ticket, expires; see preflight.engine.waivers)",
}
HOST_KEYS = {"name", "address", "port", "user"}


class InventoryError(Exception):
    """A one-line, user-facing problem with the inventory (exit code 2)."""


@dataclass(frozen=True)
class HostSpec:
    name: str
    address: Optional[str] = None
    port: Optional[int] = None
    user: Optional[str] = None


@dataclass(frozen=True)
class Cluster:
    name: str
    hosts: tuple                      # tuple[HostSpec], the hypervisors
    storage_hosts: tuple = ()         # tuple[HostSpec]
    ssh_config: Optional[Path] = None
    known_hosts: Optional[Path] = None
    user: Optional[str] = None
    port: Optional[int] = None
    identity_file: Optional[Path] = None
    connect_timeout: float = 10.0
    command_timeout: float = 60.0
    replay: Optional[Path] = None
    description: Optional[str] = None
    # a waivers file, or the inline tables (list of dicts) of the cluster's `waivers` key
    waivers: object = None
    source: str = "<built-in>"        # the file it came from
    probe_networks: tuple = ()        # CIDR strings (preflight.facts.probe_guard)
    # caps on what one host may hand back (preflight.facts.caps); None: the default
    max_domains: Optional[int] = None
    max_pools: Optional[int] = None
    max_disks: Optional[int] = None
    max_xml_bytes: Optional[int] = None
    max_host_xml_bytes: Optional[int] = None

    @property
    def host_names(self) -> list:
        return [h.name for h in self.hosts]


def candidate_paths(explicit: Optional[str]) -> list:
    """Where the inventory is looked for, in order; the first that exists wins."""
    if explicit:
        return [Path(explicit).expanduser()]
    paths = []
    env = os.environ.get("PREFLIGHT_INVENTORY")
    if env:
        return [Path(env).expanduser()]
    paths.append(Path.cwd() / "preflight.toml")
    paths.append(Path.home() / ".config" / "preflight" / "inventory.toml")
    return paths


def find_inventory(explicit: Optional[str]) -> Optional[Path]:
    paths = candidate_paths(explicit)
    if explicit or os.environ.get("PREFLIGHT_INVENTORY"):
        path = paths[0]
        what = "--inventory" if explicit else "$PREFLIGHT_INVENTORY"
        if not path.exists():
            raise InventoryError(f"{path}: no such inventory file (from {what}); check the path")
        return path
    return next((p for p in paths if p.is_file()), None)


def load_file(path: Path) -> dict:
    """Parse an inventory file into {cluster name: Cluster}. Refused when someone else could
    have written it (W2: ./preflight.toml in a shared directory picked the hosts, keys and
    recordings of a run started as root)."""
    from preflight.filesafe import UnsafeFileError, check_private_file
    try:
        check_private_file(path, "inventory")
    except UnsafeFileError as exc:
        raise InventoryError(str(exc)) from exc
    text, data = read_toml(path, InventoryError, "inventory")
    unknown_top = [k for k in data if k != "clusters"]
    if unknown_top:
        key = unknown_top[0]
        raise InventoryError(f"{path}{_line_of(text, key)}: unknown top-level key {key!r}; "
                             f"clusters are declared as [clusters.NAME]")
    clusters = data.get("clusters", {})
    if not isinstance(clusters, dict):
        raise InventoryError(f"{path}: 'clusters' must be a table: write [clusters.NAME]")
    return {name: _cluster(path, text, name, body) for name, body in clusters.items()}


def _cluster(path: Path, text: str, name: str, body) -> Cluster:
    where = f"{path}: cluster {name!r}"
    if not isinstance(body, dict):
        raise InventoryError(f"{where}: must be a table [clusters.{name}]")
    for key in body:
        if key not in CLUSTER_KEYS:
            known = ", ".join(sorted(CLUSTER_KEYS))
            raise InventoryError(f"{path}{_line_of(text, key)}: cluster {name!r}: unknown key {key!r} "
                                 f"(known keys: {known})")
    replay = _path(body.get("replay"), path, where, "replay")
    if "hosts" not in body and replay is None:
        raise InventoryError(f"{where}: no 'hosts' list; add hosts = [\"hv1\", \"hv2\"]")
    hosts = _hosts(body.get("hosts", []), f"{where}: hosts")
    storage = _hosts(body.get("storage_hosts", []), f"{where}: storage_hosts")
    names = [h.name for h in hosts] + [h.name for h in storage]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InventoryError(f"{where}: host {dupes[0]!r} is listed twice; list each host once")
    return Cluster(
        name=name,
        hosts=hosts,
        storage_hosts=storage,
        ssh_config=_path(body.get("ssh_config"), path, where, "ssh_config"),
        known_hosts=_path(body.get("known_hosts"), path, where, "known_hosts"),
        user=_str(body.get("user"), where, "user"),
        port=_port(body.get("port"), where, "port"),
        identity_file=_path(body.get("identity_file"), path, where, "identity_file"),
        connect_timeout=_seconds(body.get("connect_timeout", 10), where, "connect_timeout"),
        command_timeout=_seconds(body.get("command_timeout", 60), where, "command_timeout"),
        replay=replay,
        description=_str(body.get("description"), where, "description"),
        waivers=_waivers(body.get("waivers"), path, where),
        source=str(path),
        probe_networks=_networks(body.get("probe_networks"), where),
        **_caps(body, where),
    )


def _caps(body: dict, where: str) -> dict:
    from preflight.facts.caps import CAP_KEYS, caps_from
    try:
        caps_from(body, where)
    except ValueError as exc:
        raise InventoryError(str(exc)) from exc
    return {k: body[k] for k in CAP_KEYS if k in body}


def _networks(value, where: str) -> tuple:
    from preflight.facts.probe_guard import validate_networks
    try:
        return validate_networks(value, where)
    except ValueError as exc:
        raise InventoryError(str(exc)) from exc


def _waivers(value, inventory: Path, where: str):
    if value is None or isinstance(value, list):
        return value
    if isinstance(value, str):
        return _path(value, inventory, where, "waivers")
    raise InventoryError(f"{where}: 'waivers' must be a file name or [[clusters.NAME.waivers]] tables")


def _hosts(value, where: str) -> tuple:
    if not isinstance(value, list):
        raise InventoryError(f"{where}: must be a list, e.g. [\"hv1\", \"hv2\"]")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            if not item.strip():
                raise InventoryError(f"{where}[{i}]: empty host name")
            out.append(HostSpec(item.strip()))
        elif isinstance(item, dict):
            unknown = set(item) - HOST_KEYS
            if unknown:
                raise InventoryError(f"{where}[{i}]: unknown key {sorted(unknown)[0]!r} "
                                     f"(known keys: address, name, port, user)")
            if not isinstance(item.get("name"), str) or not item["name"].strip():
                raise InventoryError(f"{where}[{i}]: an inline host table needs name = \"...\"")
            out.append(HostSpec(item["name"].strip(),
                                address=_str(item.get("address"), f"{where}[{i}]", "address"),
                                port=_port(item.get("port"), f"{where}[{i}]", "port"),
                                user=_str(item.get("user"), f"{where}[{i}]", "user")))
        else:
            raise InventoryError(f"{where}[{i}]: must be a host name or "
                                 f"{{ name = \"hv1\", address = \"...\" }}")
    return tuple(out)


def _str(value, where: str, key: str) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InventoryError(f"{where}: {key!r} must be a non-empty string")
    return value.strip()


def _port(value, where: str, key: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise InventoryError(f"{where}: {key!r} must be a TCP port number (1-65535)")
    return value


def _seconds(value, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InventoryError(f"{where}: {key!r} must be a positive number of seconds")
    return float(value)


def _path(value, inventory: Path, where: str, key: str) -> Optional[Path]:
    text = _str(value, where, key)
    if text is None:
        return None
    p = Path(text).expanduser()
    # Relative paths are relative to the inventory file, not to wherever preflight runs.
    return p if p.is_absolute() else (inventory.parent / p)


def _line_of(text: str, key: str) -> str:
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", re.MULTILINE)
    m = pattern.search(text)
    return f":{text.count(chr(10), 0, m.start()) + 1}" if m else ""


def builtin_clusters() -> dict:
    from importlib.resources import files

    ref = files("preflight.demo") / "inventory.toml"
    path = Path(str(ref))
    if not path.is_file():
        return {}
    return load_file(path)


def load(cluster: str, explicit: Optional[str] = None) -> Cluster:
    """Find the inventory and return the named cluster, or raise InventoryError."""
    path = find_inventory(explicit)
    clusters = load_file(path) if path else {}
    if cluster in clusters:
        return clusters[cluster]
    builtin = builtin_clusters()
    if cluster in builtin:
        return builtin[cluster]
    if path is None:
        looked = ", ".join(str(p) for p in candidate_paths(None))
        raise InventoryError(f"unknown cluster {cluster!r}: no inventory found (looked for {looked}); "
                             f"pass --inventory FILE, or try --cluster {DEMO_CLUSTER}")
    known = ", ".join(sorted(set(clusters) | set(builtin))) or "none"
    raise InventoryError(f"{path}: unknown cluster {cluster!r} (clusters: {known}); "
                         f"add [clusters.{cluster}] or pick one of those")


def list_clusters(explicit: Optional[str] = None) -> dict:
    path = find_inventory(explicit)
    out = dict(builtin_clusters())
    if path:
        out.update(load_file(path))
    return out
