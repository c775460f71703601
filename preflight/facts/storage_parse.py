"""Raw record -> the storage facts (block inventory, QEMU capabilities cache,
storage pools and volumes, qemu-img backing chains). Pure; called by preflight.facts.parse.

Fact keys (HostFacts.fact_errors): "block" (lsblk missing: nothing can be identified; the
other listings missing only land in BlockFacts.errors), "qemu_caps", "pools" (and "pool:NAME"),
"chains".
"""

from __future__ import annotations

from dataclasses import replace

from preflight.facts.blockdev import (parse_fc_ports, parse_iscsi_sessions, parse_lsblk, parse_multipath,
                                      parse_symlink_listing)
from preflight.facts.models import BlockFacts, DiskChain, PoolVolume
from preflight.facts.qemu_img import parse_backing_chain, parse_qemu_caps_grep
from preflight.facts.raw import SHELL_FACTS
from preflight.facts.storage_pool import parse_pool_xml

__all__ = ["parse_storage_fields", "BLOCK_SHELL_KEYS", "STORAGE_FACT_KEYS"]

BLOCK_SHELL_KEYS = ("lsblk", "disk_by_id", "disk_by_path", "multipath", "iscsi_sessions", "fc_hosts")
STORAGE_FACT_KEYS = ("block", "qemu_caps", "pools", "chains")


def _cmd(key: str) -> str:
    return " ".join(SHELL_FACTS.get(key, [key]))


def _failed(key: str, res: dict) -> str:
    return f"`{_cmd(key)}` exited {res.get('rc')}: {' '.join((res.get('err') or '').split())[:200]}"


def _parse_block(raw_host: dict, errors: dict):
    shell = raw_host.get("shell") or {}
    raw_errors = raw_host.get("errors") or {}
    lsblk = shell.get("lsblk")
    if lsblk is None:
        errors["block"] = raw_errors.get("lsblk") or f"`{_cmd('lsblk')}` was not gathered"
        return None
    if lsblk.get("rc") != 0:
        errors["block"] = _failed("lsblk", lsblk)
        return None
    try:
        devices = parse_lsblk(lsblk.get("out") or "")
    except ValueError as exc:                    # json.JSONDecodeError is a ValueError
        errors["block"] = f"could not parse lsblk JSON: {exc}"[:300]
        return None
    part_errors: dict = {}
    links = {}
    for key in ("disk_by_id", "disk_by_path"):
        res = shell.get(key)
        links[key] = {}
        if res is None:
            part_errors[key] = raw_errors.get(key) or f"`{_cmd(key)}` was not gathered"
        elif res.get("rc") == 0:
            links[key] = parse_symlink_listing(res.get("out") or "")
        elif "No such file" not in (res.get("err") or ""):   # no such directory = no such links
            part_errors[key] = _failed(key, res)
    multipath = None
    res = shell.get("multipath")
    if res is None:
        part_errors["multipath"] = raw_errors.get("multipath") or f"`{_cmd('multipath')}` was not gathered"
    elif res.get("rc") != 127:                   # 127: not installed -> None (no multipath maps)
        if res.get("rc") == 0:
            multipath = parse_multipath(res.get("out") or "")
        else:
            part_errors["multipath"] = _failed("multipath", res)
    iscsi = None
    res = shell.get("iscsi_sessions")
    if res is None:
        part_errors["iscsi_sessions"] = raw_errors.get("iscsi_sessions") or "`iscsiadm -m session -P 3` was not gathered"
    elif res.get("rc") == 0:
        iscsi = parse_iscsi_sessions(res.get("out") or "")
    elif res.get("rc") == 21:                    # "iscsiadm: No active sessions."
        iscsi = ()
    elif res.get("rc") != 127:
        part_errors["iscsi_sessions"] = _failed("iscsi_sessions", res)
    res = shell.get("fc_hosts")
    fc = parse_fc_ports(res.get("out") or "") if res and res.get("rc") == 0 else {}
    return BlockFacts(devices=devices, by_id=links["disk_by_id"], by_path=links["disk_by_path"],
                      multipath=multipath, iscsi=iscsi, fc_ports=fc, errors=part_errors)


def _parse_pools(lv: dict, raw_errors: dict, errors: dict, fields: dict) -> None:
    if lv.get("pools") is None:
        errors["pools"] = raw_errors.get("pools") or "the libvirt storage pool list was not gathered"
        return
    pools = {}
    for raw in lv["pools"]:
        key = f"pool:{raw.get('name') or '?'}"
        if not raw.get("xml"):
            errors[key] = raw_errors.get(key) or "its XML was not gathered"
            continue
        try:
            pool = parse_pool_xml(raw["xml"], active=bool(raw.get("active", True)))
        except ValueError as exc:
            errors[key] = str(exc)[:300]
            continue
        pools[pool.name] = replace(pool, active=bool(raw.get("active", True)))
    fields["pools"] = pools
    fields["volumes"] = {(v.get("pool"), v.get("volume")): PoolVolume(
        pool=v.get("pool"), volume=v.get("volume"), path=v.get("path"), error=v.get("error"))
        for v in lv.get("volumes") or ()}


def _parse_chains(raw_host: dict, raw_errors: dict, errors: dict, fields: dict) -> None:
    chains = raw_host.get("chains")
    if chains is None:
        errors["chains"] = raw_errors.get("chains") or "no qemu-img backing chain was gathered"
        return
    out = {}
    for path, res in chains.items():
        if res.get("rc") != 0:
            err = " ".join((res.get("err") or "").split())[:300]
            out[path] = DiskChain(path=path, error=f"`qemu-img info --backing-chain` exited {res.get('rc')}: {err}")
            continue
        try:
            out[path] = parse_backing_chain(path, res.get("out") or "")
        except ValueError as exc:
            out[path] = DiskChain(path=path, error=f"unreadable qemu-img output: {exc}"[:300])
    fields["disk_chains"] = out


def parse_storage_fields(raw_host: dict, errors: dict) -> dict:
    raw_errors = raw_host.get("errors") or {}
    fields: dict = {}
    block = _parse_block(raw_host, errors)
    if block is not None:
        fields["block"] = block
    res = (raw_host.get("shell") or {}).get("qemu_caps")
    if res is None:
        errors["qemu_caps"] = raw_errors.get("qemu_caps") or "libvirt's QEMU capabilities cache was not gathered"
    elif res.get("rc") not in (0, 1):            # grep: 1 = no line matched, 2 = no cache file
        errors["qemu_caps"] = "libvirt's QEMU capabilities cache could not be read: " + _failed("qemu_caps", res)
    else:
        fields["qemu_caps"] = parse_qemu_caps_grep(res.get("out") or "")
    lv = raw_host.get("libvirt") if isinstance(raw_host.get("libvirt"), dict) else {}
    _parse_pools(lv, raw_errors, errors, fields)
    _parse_chains(raw_host, raw_errors, errors, fields)
    return fields
