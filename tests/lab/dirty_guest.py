"""The lab's dirty-memory guest: a few-KB Multiboot kernel (tests/lab/guest/dirty.S) that rewrites a
working set of WS MiB at PPS pages per second, booted by libvirt with <os><kernel>.

It exists so that the convergence forecast (preflight.plan.forecast) can be judged against real
pre-copy migrations of guests whose dirty behaviour is known.  Only the forecast's lab test and
benchmark create it; it is never one of the guests every oracle run migrates.

- build_kernel(): `as`/`ld` (binutils) into the lab state dir, once per source version; lab.up()
  calls it, the test calls it again (a no-op when the binary is current).  Never committed.
- start(host, name, ws_mib, pps): a transient domain (`virsh create`) on `host`; returns once the
  kernel has printed its banner and "ready" on the serial log (SeaBIOS here takes ~5 s).
- destroy(name): wherever it runs.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path

from tests.lab import lab as L

SOURCE = Path(__file__).resolve().parent / "guest" / "dirty.S"
MEMORY_MIB = 512
BOOT_TIMEOUT = 60


def guest_dir() -> Path:
    return L.LAB_DIR / "dirty-guest"


def kernel_path() -> Path:
    return guest_dir() / "dirty.elf"


def build_kernel() -> Path:
    """Assemble and link dirty.S into LAB_DIR/dirty-guest/dirty.elf (skipped if current)."""
    out = guest_dir()
    out.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    stamp = out / "dirty.elf.sha256"
    elf = kernel_path()
    if elf.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return elf
    obj = out / "dirty.o"
    for cmd in (["as", "--32", "-o", str(obj), str(SOURCE)],
                ["ld", "-m", "elf_i386", "-N", "-Ttext=0x100000", "-e", "_start",
                 "--no-warn-rwx-segments", "-o", str(elf), str(obj)]):
        p = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if p.returncode != 0 and "--no-warn-rwx-segments" in cmd:   # older ld lacks the flag
            cmd.remove("--no-warn-rwx-segments")
            p = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise L.LabError(f"building the dirty guest failed: {' '.join(cmd)}\n{p.stderr}")
    obj.unlink()
    stamp.write_text(digest + "\n")
    return elf


def serial_log(name: str) -> Path:
    return guest_dir() / f"{name}.serial"


# This nested KVM does not offer pni (SSE3) to guests: kvm64 minus pni starts on every lab host
# and says nothing host-specific (the forecast is about RAM, not CPUs).
NO_PNI = "<feature policy='disable' name='pni'/>"


def domain_xml(name: str, ws_mib: int, pps: int, domain_type: str,
               memory_mib: int = MEMORY_MIB) -> str:
    """No disk, no NIC: only RAM moves.  The serial log is a file in the state dir, which every lab
    host sees at the same path (the destination QEMU opens it too, in append mode)."""
    return f"""<domain type='{domain_type}'>
  <name>{name}</name>
  <uuid>{L.stable_uuid('dirty-guest', name)}</uuid>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{kernel_path()}</kernel>
    <cmdline>ws={ws_mib} pps={pps}</cmdline><bootmenu enable='no'/></os>
  <features><acpi/></features>
  <cpu mode='custom' match='exact'><model fallback='forbid'>kvm64</model>{NO_PNI}</cpu>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='{serial_log(name)}' append='on'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def start(host: str, name: str, ws_mib: int, pps: int, domain_type: str | None = None,
          memory_mib: int = MEMORY_MIB) -> None:
    build_kernel()
    domain_type = domain_type or L.kvm_domain_type()
    log = serial_log(name)
    log.unlink(missing_ok=True)
    xml = L.write(guest_dir() / f"{name}.xml", domain_xml(name, ws_mib, pps, domain_type, memory_mib))
    L.ssh(host, f"virsh -q create {xml} >/dev/null")
    banner = f"dirty-guest ws={ws_mib} pps={pps}"
    # the banner with these values (a clamped working set would print less), then "ready": the
    # working set has been written once and the paced writes start
    L.wait_for(f"{name} ready on its serial log",
               lambda: log.exists() and f"{banner} " in (text := log.read_text(errors="replace"))
               and "ready" in text.split(banner, 1)[1], BOOT_TIMEOUT, 0.2)
    time.sleep(0.3)


def destroy(name: str) -> None:
    for host in L.HYPERVISORS:
        L.ssh(host, f"virsh -q destroy {name} >/dev/null 2>&1; true", check=False)
