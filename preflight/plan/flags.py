"""The migration the operator plans: `--migrate-flags` (virsh migrate's option names), validated and
normalised. Pure; no preflight imports, so facts, checks and the CLI can all read it.

    parse("copy-storage-all,persistent")  ->  MigrateFlags({"live", "copy-storage-all", "persistent"})

`live` is implied unless `offline` is given (preflight judges live migration; `--migrate-flags
offline` plans an offline one). Every name is one
of virsh migrate's own options (virsh-domain.c, cmdMigrate); unknown names are refused with the list.
"""

from __future__ import annotations

from dataclasses import dataclass

# virsh option -> the VIR_MIGRATE_* flag it sets (libvirt-domain.h), in virsh's order
KNOWN = {
    "live": "VIR_MIGRATE_LIVE",
    "offline": "VIR_MIGRATE_OFFLINE",
    "p2p": "VIR_MIGRATE_PEER2PEER",
    "tunnelled": "VIR_MIGRATE_TUNNELLED",
    "persistent": "VIR_MIGRATE_PERSIST_DEST",
    "undefinesource": "VIR_MIGRATE_UNDEFINE_SOURCE",
    "suspend": "VIR_MIGRATE_PAUSED",
    "copy-storage-all": "VIR_MIGRATE_NON_SHARED_DISK",
    "copy-storage-inc": "VIR_MIGRATE_NON_SHARED_INC",
    "copy-storage-synchronous-writes": "VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES",
    "change-protection": "VIR_MIGRATE_CHANGE_PROTECTION",
    "unsafe": "VIR_MIGRATE_UNSAFE",
    "compressed": "VIR_MIGRATE_COMPRESSED",
    "abort-on-error": "VIR_MIGRATE_ABORT_ON_ERROR",
    "auto-converge": "VIR_MIGRATE_AUTO_CONVERGE",
    "rdma-pin-all": "VIR_MIGRATE_RDMA_PIN_ALL",
    "postcopy": "VIR_MIGRATE_POSTCOPY",
    "postcopy-after-precopy": "(virsh: switch to post-copy after the first pre-copy pass)",
    "tls": "VIR_MIGRATE_TLS",
    "parallel": "VIR_MIGRATE_PARALLEL",
    "zerocopy": "VIR_MIGRATE_ZEROCOPY",
}
COPY_STORAGE = ("copy-storage-all", "copy-storage-inc")


class FlagsError(ValueError):
    """An unknown or malformed --migrate-flags item (one line, usage error)."""


@dataclass(frozen=True)
class MigrateFlags:
    names: frozenset

    def __contains__(self, name: str) -> bool:
        return name in self.names

    @property
    def copy_storage(self) -> bool:
        return any(n in self.names for n in COPY_STORAGE)

    @property
    def virsh_options(self) -> list:
        """The flags as virsh options, in virsh's order."""
        return [f"--{n}" for n in KNOWN if n in self.names]

    def text(self) -> str:
        return " ".join(self.virsh_options)


def parse(items) -> MigrateFlags:
    """`items`: strings, each one flag or a comma/space-separated list; a leading -- is allowed."""
    names = set()
    if isinstance(items, str):
        items = [items]
    for item in items or ():
        for part in str(item).replace(",", " ").split():
            name = part.strip().lower().lstrip("-")
            if not name:
                continue
            if name == "tunneled":
                name = "tunnelled"
            if name not in KNOWN:
                raise FlagsError(f"--migrate-flags: {part!r} is not a virsh migrate option preflight knows "
                                 f"(known: {', '.join(KNOWN)})")
            names.add(name)
    if "offline" not in names:
        names.add("live")
    return MigrateFlags(frozenset(names))
