"""libvirt and QEMU version direction between a source and a destination.

Neither libvirt nor QEMU refuses a migration because of a version number; what an older
destination lacks shows up as something else (a machine type, a device property, an XML element)
and is judged by preflight.compat.machine. The version direction is still worth a warning:

- QEMU, docs/devel/migration/compatibility.rst: "migration is only supposed to work if you use the
  same machine type in both source and destination"; for two QEMU versions with a machine type
  both know, "older to newer" and "newer to older" are both supported ("We need to make sure when
  we are developing 5.2 we need to take care about not to break migration to qemu-5.1"), and a
  newer source's machine type is "not possible" on the older one ("qemu-5.1 doesn't understand
  pc-5.2 machine type"). The same document's pc-7.2 example shows both directions between 7.2
  and 8.0 failing until fixed after the release: cross-version migration is the less tested path.
- libvirt (src/qemu/qemu_migration.c) negotiates features through the migration cookie and
  sends the domain XML formatted VIR_DOMAIN_XML_MIGRATABLE so an older destination can parse it;
  it has no version gate of its own.

So: same version PASS; destination newer PASS; destination older WARN (named, with the rule);
unknown versions ERROR.
"""

from __future__ import annotations

from typing import Optional

from preflight.compat.finding import Finding, passed, undecided, warned
from preflight.facts.versions import Version

QEMU_COMPAT_DOC = "https://www.qemu.org/docs/master/devel/migration/compatibility.html"
LIBVIRT_MIGRATION_DOC = "https://libvirt.org/migration.html"


def _direction(
    what: str,
    src: Optional[Version],
    dst: Optional[Version],
    src_name: str,
    dst_name: str,
    rule: str,
    ref: str,
) -> Finding:
    observed = f"{src_name} {what} {src or '?'}, {dst_name} {what} {dst or '?'}"
    if src is None or dst is None:
        return undecided(
            f"the {what} version of {src_name if src is None else dst_name} is unknown",
            observed,
            f"{dst_name} {what} >= {src_name}'s",
            reference=ref,
        )
    if dst >= src:
        return passed(
            f"{dst_name} runs {what} {dst}, {'the same as' if dst == src else 'newer than'} "
            f"{src_name}'s {src}",
            observed,
            f"{what} >= {src}",
            reference=ref,
        )
    return warned(
        f"{dst_name} runs an older {what} ({dst}) than {src_name} ({src}): {rule}",
        observed,
        f"{what} >= {src}",
        reference=ref,
    )


def judge_versions(
    src_name: str,
    dst_name: str,
    src_libvirt: Optional[Version],
    dst_libvirt: Optional[Version],
    src_qemu: Optional[Version],
    dst_qemu: Optional[Version],
) -> list:
    return [
        _direction(
            "QEMU",
            src_qemu,
            dst_qemu,
            src_name,
            dst_name,
            "QEMU supports newer-to-older migration only for a machine type the older QEMU also "
            "defines, and it is the less tested direction",
            QEMU_COMPAT_DOC,
        ),
        _direction(
            "libvirt",
            src_libvirt,
            dst_libvirt,
            src_name,
            dst_name,
            "libvirt has no version gate, but the older destination must understand every element of "
            "the guest's migratable XML",
            LIBVIRT_MIGRATION_DOC,
        ),
    ]
