"""libvirt domain XML -> Domain, parsed with the safe parser, secrets scrubbed.

Only what migration checks need is read. Secrets never leave this module: a disk's <auth>
yields the secret's usage name or uuid (a reference, not a value), graphics passwords and
HTTP cookies are removed from the XML kept in Domain.xml.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from lxml import etree

from preflight.facts.models import (CpuFeature, Disk, DiskHost, Domain, Filesystem, GuestCpu,
                                    GuestInterface, HostDevice, Shmem, Tpm)
from preflight.facts.guest_needs import parse_guest_needs
from preflight.facts.xmlsafe import copy_element, parse_xml, parse_xml_or_none, text_of
from preflight.scrub import MASK, scrub_tree

_MEMORY_UNITS = {"b": 1 / 1024, "bytes": 1 / 1024, "k": 1, "kib": 1, "kb": 1000 / 1024,
                 "m": 1024, "mib": 1024, "mb": 1000 ** 2 / 1024, "g": 1024 ** 2, "gib": 1024 ** 2,
                 "gb": 1000 ** 3 / 1024, "t": 1024 ** 3, "tib": 1024 ** 3, "tb": 1000 ** 4 / 1024}
SCRUBBED = MASK


def _int(value) -> Optional[int]:
    try:
        return int(value, 0) if isinstance(value, str) else None
    except ValueError:
        return None


def _memory_kib(elem) -> Optional[int]:
    if elem is None or not (elem.text or "").strip():
        return None
    factor = _MEMORY_UNITS.get((elem.get("unit") or "KiB").lower())
    value = _int(elem.text.strip())
    return None if factor is None or value is None else int(value * factor)


def _source_auth(disk) -> tuple:
    """(has_auth, secret reference) from <auth> under <disk> (old) or under <source> (new)."""
    auth = disk.find("auth")
    if auth is None:
        auth = disk.find("source/auth")
    if auth is None:
        return False, None
    secret = auth.find("secret")
    ref = None if secret is None else (secret.get("uuid") or secret.get("usage"))
    return True, ref


def _secret_ref_kind(disk) -> tuple:
    """(how the secret is named: "uuid"/"usage", its type) of the disk's <auth><secret>."""
    secret = disk.find("auth/secret")
    if secret is None:
        secret = disk.find("source/auth/secret")
    if secret is None:
        return None, None
    return ("uuid" if secret.get("uuid") else "usage" if secret.get("usage") else None), secret.get("type")


def _disk_hosts(source) -> tuple:
    hosts = []
    for host in source.findall("host") if source is not None else ():
        transport = host.get("transport")
        socket = host.get("socket")
        hosts.append(DiskHost(name=host.get("name") or socket or "", port=_int(host.get("port")),
                              transport=transport, socket=socket))
    return tuple(hosts)


def _source_label(store_type: str, source) -> Optional[str]:
    if source is None:
        return None
    if store_type == "network":
        host = source.find("host")
        server = host.get("name") if host is not None else "?"
        return f"{source.get('protocol') or '?'}://{server}/{source.get('name') or ''}"
    if store_type == "volume":
        return f"pool {source.get('pool')} volume {source.get('volume')}"
    return source.get("file") or source.get("dev") or source.get("dir")


def _backing_chain(elem) -> Optional[tuple]:
    """The <backingStore> chain of a disk as libvirt recorded it (live XML): None when the XML
    says nothing, () when it says the chain ends at the top image."""
    store = elem.find("backingStore")
    if store is None:
        return None
    chain = []
    while store is not None and (store.get("type") or store.find("source") is not None):
        chain.append(_source_label(store.get("type") or "file", store.find("source")) or "(unnamed)")
        store = store.find("backingStore")
    return tuple(chain)


def _initiator(source) -> Optional[str]:
    iqn = source.find("initiator/iqn") if source is not None else None
    return (iqn.get("name") or None) if iqn is not None else None


def parse_disk(elem) -> Disk:
    dtype = elem.get("type") or "file"
    device = elem.get("device") or "disk"
    source = elem.find("source")
    driver = elem.find("driver")
    target = elem.find("target")
    has_auth, secret = _source_auth(elem)
    get = (lambda attr: source.get(attr)) if source is not None else (lambda attr: None)
    path = {"file": get("file"), "block": get("dev"), "dir": get("dir")}.get(dtype)
    if dtype == "vhostuser":
        path = get("path")
    protocol = get("protocol") if dtype == "network" else None
    empty = (dtype in ("file", "block", "dir") and not path) or \
            (dtype == "network" and not protocol) or (dtype == "volume" and not get("volume"))
    return Disk(
        target=target.get("dev") if target is not None else "?",
        device=device, type=dtype, path=path, protocol=protocol,
        name=get("name") if dtype == "network" else None,
        hosts=_disk_hosts(source) if dtype == "network" else (),
        pool=get("pool") if dtype == "volume" else None,
        volume=get("volume") if dtype == "volume" else None,
        driver=driver.get("name") if driver is not None else None,
        format=driver.get("type") if driver is not None else None,
        cache=driver.get("cache") if driver is not None else None,
        readonly=elem.find("readonly") is not None,
        shareable=elem.find("shareable") is not None,
        transient=elem.find("transient") is not None,
        has_auth=has_auth, auth_secret=secret, empty=empty,
        auth_secret_by=_secret_ref_kind(elem)[0], auth_secret_type=_secret_ref_kind(elem)[1],
        backing=_backing_chain(elem),
        initiator=_initiator(source) if protocol == "iscsi" else None,
    )


def parse_interface(elem) -> GuestInterface:
    itype = elem.get("type") or "?"
    source = elem.find("source")
    src = None
    if source is not None:
        src = {"bridge": source.get("bridge"), "network": source.get("network"),
               "direct": source.get("dev"), "vhostuser": source.get("path"),
               "vdpa": source.get("dev")}.get(itype) or source.get("dev") or source.get("bridge")
    mac, model, target = elem.find("mac"), elem.find("model"), elem.find("target")
    virtualport, teaming = elem.find("virtualport"), elem.find("teaming")
    return GuestInterface(
        type=itype, source=src,
        mac=mac.get("address") if mac is not None else None,
        model=model.get("type") if model is not None else None,
        target_dev=target.get("dev") if target is not None else None,
        portgroup=source.get("portgroup") if source is not None else None,
        mode=source.get("mode") if source is not None and itype == "direct" else None,
        virtualport=(virtualport.get("type") or "unspecified") if virtualport is not None else None,
        teaming=teaming.get("type") if teaming is not None else None,
    )


def _hostdev_address(htype: str, source) -> Optional[str]:
    if source is None:
        return None
    addr = source.find("address")
    if htype == "pci" and addr is not None:
        try:
            return "{:04x}:{:02x}:{:02x}.{:x}".format(*(int(addr.get(k, "0"), 0) for k in
                                                        ("domain", "bus", "slot", "function")))
        except ValueError:
            return None
    if htype == "usb":
        vendor, product = source.find("vendor"), source.find("product")
        if vendor is not None and product is not None:
            return f"{vendor.get('id')}:{product.get('id')}"
        if addr is not None:
            return f"bus {addr.get('bus')} device {addr.get('device')}"
    if htype == "mdev" and addr is not None:
        return addr.get("uuid")
    if htype in ("scsi", "scsi_host"):
        adapter = source.find("adapter")
        parts = [adapter.get("name") if adapter is not None else None,
                 source.get("wwpn"), source.get("protocol"), source.get("name")]
        if addr is not None:
            parts.append(":".join(addr.get(k, "?") for k in ("bus", "target", "unit")))
        return " ".join(p for p in parts if p) or None
    return None


def parse_hostdev(elem) -> HostDevice:
    mode = elem.get("mode") or "subsystem"
    htype = elem.get("type") or ("?" if mode == "subsystem" else "capabilities")
    teaming = elem.find("teaming")
    return HostDevice(mode=mode, type=htype, address=_hostdev_address(htype, elem.find("source")),
                      teaming=teaming.get("type") if teaming is not None else None)


def parse_cpu(elem) -> GuestCpu:
    if elem is None:
        return GuestCpu()
    model = elem.find("model")
    mode = elem.get("mode") or "custom"
    default_policy = "require"
    features = tuple(CpuFeature(name=f.get("name"), policy=f.get("policy") or default_policy)
                     for f in elem.findall("feature") if f.get("name"))
    return GuestCpu(
        mode=mode, match=elem.get("match"), check=elem.get("check"),
        model=(model.text or "").strip() or None if model is not None else None,
        fallback=model.get("fallback") if model is not None else None,
        vendor=text_of(elem, "vendor"), features=features,
        xml=_serialize(elem), migratable=elem.get("migratable"),
    )


def _serialize(elem) -> str:
    return etree.tostring(copy_element(elem), encoding="unicode")


def _tsc_frequency(root) -> Optional[int]:
    for timer in root.findall("clock/timer"):
        if timer.get("name") == "tsc" and timer.get("frequency"):
            return _int(timer.get("frequency"))
    return None


def scrub(root) -> None:
    """Remove secret values in place (preflight.scrub: the one scrubber of record and reports)."""
    scrub_tree(root)


def _attr(elem, path: str, attr: str) -> Optional[str]:
    found = elem.find(path)
    return found.get(attr) if found is not None else None


def parse_filesystem(elem) -> Filesystem:
    return Filesystem(driver=_attr(elem, "driver", "type"),
                      source=_attr(elem, "source", "dir") or _attr(elem, "source", "file")
                      or _attr(elem, "source", "socket"),
                      target=_attr(elem, "target", "dir"))


def parse_shmem(elem) -> Shmem:
    return Shmem(name=elem.get("name") or "?", role=elem.get("role"),
                 model=_attr(elem, "model", "type"))


SWTPM_STATE_DIR = "/var/lib/libvirt/swtpm"     # libvirt's default swtpm_storage_dir (qemu.conf)


def parse_tpm(elem, uuid: Optional[str]) -> Tpm:
    backend = elem.find("backend")
    btype = backend.get("type") if backend is not None else "passthrough"
    version = backend.get("version") if backend is not None else None
    path, persistent = None, False
    if btype == "emulator":
        persistent = (backend.get("persistent_state") or "no") == "yes"
        source = backend.find("source")
        if source is not None and source.get("path"):
            path = source.get("path")
        elif uuid:
            path = f"{SWTPM_STATE_DIR}/{uuid}/" + ("tpm1.2" if version == "1.2" else "tpm2")
    return Tpm(model=elem.get("model"), backend=btype or "?", version=version, state_path=path,
               persistent_state=persistent)


def parse_live_cpu(live_xml: Optional[str], name: Optional[str] = None) -> tuple:
    """(GuestCpu of the live XML or None, scrubbed live XML or None, why None). A live XML that
    cannot be parsed costs only the live CPU, never the domain (the migratable XML still holds)."""
    if not live_xml:
        return None, None, None
    try:
        root = parse_xml(live_xml, f"live XML of domain {name!r}" if name else "live domain XML")
    except ValueError as exc:
        return None, None, f"the live XML could not be parsed: {exc}"[:500]
    if root.tag != "domain":
        return None, None, f"the live XML has root <{root.tag}>, expected <domain>"
    scrub(root)
    cpu = root.find("cpu")
    # no <cpu> in the live XML: the guest runs the hypervisor's default model, as configured
    return (parse_cpu(cpu) if cpu is not None else GuestCpu()), etree.tostring(root, encoding="unicode"), None


def _with_live_backing(disks: tuple, live_text: Optional[str]) -> tuple:
    """Disks with the <backingStore> chain libvirt recorded in the LIVE XML (the migratable XML
    leaves it out): libvirt built it when it opened the images, so nothing is probed for it."""
    root = parse_xml_or_none(live_text, "live domain XML") if live_text else None
    if root is None:
        return disks
    chains = {}
    for elem in root.findall("devices/disk"):
        target = elem.find("target")
        if target is not None and target.get("dev"):
            chains[target.get("dev")] = _backing_chain(elem)
    return tuple(replace(d, backing=chains[d.target]) if d.backing is None and chains.get(d.target) is not None
                 else d for d in disks)


def _guest_needs(xml: str, name: Optional[str]) -> tuple:
    """(GuestNeeds, None), or (None, why) when the XML parsed but its needs could not be read."""
    try:
        return parse_guest_needs(xml, name), None
    except (ValueError, TypeError, AttributeError) as exc:
        return None, f"could not read what {name or 'the guest'} needs of a host: {exc}"[:500]


def parse_domain_xml(xml: str, *, name: Optional[str] = None, state: Optional[str] = None,
                     active: bool = False, persistent: bool = True,
                     live_xml: Optional[str] = None, live_note: Optional[str] = None) -> Domain:
    """Parse one domain's XML (as from virDomainGetXMLDesc(MIGRATABLE)), and its live CPU from
    `live_xml` (virDomainGetXMLDesc(0)) when given. Raises ValueError for the main XML only."""
    root = parse_xml(xml, f"domain {name!r} XML" if name else "domain XML")
    if root.tag != "domain":
        raise ValueError(f"domain XML has root <{root.tag}>, expected <domain>")
    devices = root.find("devices")
    devs = devices if devices is not None else etree.Element("devices")
    os_type = root.find("os/type")
    scrub(root)
    live_cpu, live_text, live_why = parse_live_cpu(live_xml, name)
    needs, needs_error = _guest_needs(xml, name)
    disks = _with_live_backing(tuple(parse_disk(d) for d in devs.findall("disk")), live_text)
    return Domain(
        name=text_of(root, "name") or name or "?",
        uuid=text_of(root, "uuid"), active=active, persistent=persistent, state=state,
        type=root.get("type"), memory_kib=_memory_kib(root.find("memory")),
        vcpus=_int((root.findtext("vcpu") or "").strip()),
        machine=os_type.get("machine") if os_type is not None else None,
        cpu=parse_cpu(root.find("cpu")), tsc_frequency=_tsc_frequency(root),
        disks=disks,
        interfaces=tuple(parse_interface(i) for i in devs.findall("interface")),
        hostdevs=tuple(parse_hostdev(h) for h in devs.findall("hostdev")),
        filesystems=tuple(parse_filesystem(fs) for fs in devs.findall("filesystem")),
        shmems=tuple(parse_shmem(sh) for sh in devs.findall("shmem")),
        xml=etree.tostring(root, encoding="unicode"),
        emulator=(devs.findtext("emulator") or "").strip() or None,
        nvram=(root.findtext("os/nvram") or "").strip() or None,
        nvram_template=_attr(root, "os/nvram", "template"),
        tpms=tuple(parse_tpm(t, text_of(root, "uuid")) for t in devs.findall("tpm")),
        live_cpu=live_cpu, live_xml=live_text,
        live_cpu_note=None if live_cpu is not None else (live_why or live_note),
        needs=needs, needs_error=needs_error,
    )
