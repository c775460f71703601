"""`preflight check --write-test` (INTRUSIVE, opt-in): prove QEMU's user can write where guests' images live.

Only with the flag. After every host's facts are in, each destination gets ONE more exec
that, in every directory holding a writable image of a guest running on ANOTHER host (and
lying on a shared file system on this host), creates a uniquely named empty file
`.preflight-write-test-<random>` AS QEMU's USER (runuser -u USER --, else sudo -n -u USER --),
removes it again, and asks access(2) W_OK for the images of that directory as the same user.
The file is always removed: by the user, else by the trap of the script (EXIT, HUP, INT,
TERM), and a leftover is reported. The outcome of each directory lands in the raw record
(host entry "write_test": {DIR: {rc, out, err}}) and becomes storage.qemu_write_access's verdict.
"""

from __future__ import annotations

import posixpath
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from preflight.facts.storage_access import access_paths, shared_mountpoints

__all__ = ["WRITE_TEST_SCRIPT", "TEST_FILE_PREFIX", "write_test_plan", "write_test_facts", "run_write_tests"]

TEST_FILE_PREFIX = ".preflight-write-test-"

# $1 user, $2 directory, $3 file name, $4... images in that directory
WRITE_TEST_SCRIPT = r"""
u=$1; d=$2; f=$2/$3; shift 3
cleanup() { if [ -e "$f" ]; then rm -f -- "$f" && echo 'error left behind by the user; removed by the script'; fi; }
trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 130' HUP INT TERM
one() { printf '%s' "$1" | tr '\n' ' '; }
if [ "$(id -u)" = "$(id -u -- "$u" 2>/dev/null)" ]; then as() { "$@"; }
elif command -v runuser >/dev/null 2>&1; then as() { runuser -u "$u" -- "$@"; }
elif command -v sudo >/dev/null 2>&1; then as() { sudo -n -u "$u" -- "$@"; }
else echo "error neither runuser nor sudo to act as $u"; exit 0; fi
if out=$(as sh -c 'set -C; : > "$1"' preflight-write-test "$f" 2>&1); then
  echo created
  if out=$(as rm -f -- "$f" 2>&1); then echo removed; else printf 'error removing as %s: %s\n' "$u" "$(one "$out")"; fi
else
  printf 'error creating %s as %s: %s\n' "$f" "$u" "$(one "$out")"
fi
for i in "$@"; do
  if as test -w "$i"; then echo "access ok $i"; else echo "access denied $i"; fi
done
exit 0
"""


def write_test_plan(hosts: dict) -> dict:
    """{host: {directory: [images]}}: per destination, the directories of writable images of guests
    running on the OTHER hosts that lie on a shared file system mounted on this destination."""
    from preflight.facts.mountinfo import find_mount, parse_mountinfo
    images = {n: access_paths(e.get("libvirt") or {}) for n, e in hosts.items() if e.get("reachable")}
    plan: dict = {}
    for name, entry in hosts.items():
        if not entry.get("reachable"):
            continue
        text = ((entry.get("shell") or {}).get("mountinfo") or {}).get("out") or ""
        shared = set(shared_mountpoints(text))
        try:
            mounts = parse_mountinfo(text)
        except ValueError:
            continue
        dirs: dict = {}
        for other, paths in images.items():
            if other == name:
                continue
            for p in paths:
                m = find_mount(mounts, p)
                if m is not None and m.mountpoint in shared:
                    lst = dirs.setdefault(posixpath.dirname(posixpath.normpath(p)), [])
                    if p not in lst:
                        lst.append(p)
        if dirs:
            plan[name] = dirs
    return plan


def write_test_facts(user: str, dirs: dict, token: Optional[str] = None) -> tuple:
    """(fact keys -> argv, key -> directory) for one host's write-test exec."""
    token = token or secrets.token_hex(8)
    keys, where = {}, {}
    for i, (d, imgs) in enumerate(sorted(dirs.items())):
        keys[f"wt_{i}"] = ["sh", "-c", WRITE_TEST_SCRIPT, "preflight-write-test", user, d,
                           f"{TEST_FILE_PREFIX}{token}", *imgs]
        where[f"wt_{i}"] = d
    return keys, where


def _one_host(conn, entry: dict, dirs: dict, timeout) -> None:
    from preflight.facts.gather import build_facts_script, parse_facts_output
    from preflight.transport.errors import TransportError
    user = (entry.get("image_access") or {}).get("user")
    if not user:
        entry.setdefault("errors", {})["write_test"] = "not run: the user QEMU runs as is unknown on this host"
        return
    keys, where = write_test_facts(user, dirs)
    marker = "PFM" + secrets.token_hex(12)
    try:
        res = conn.run_script(build_facts_script(keys, marker), timeout=timeout)
    except TransportError as exc:
        entry.setdefault("errors", {})["write_test"] = f"--write-test exec failed: {exc}"
        return
    except Exception as exc:                            # noqa: BLE001 - a host never crashes the run
        entry.setdefault("errors", {})["write_test"] = f"--write-test failed: {type(exc).__name__}: {exc}"
        return
    finally:
        entry["round_trips"] = conn.round_trips
    got, missing = parse_facts_output(res.stdout_bytes, marker, keys.keys())
    entry["write_test"] = {where[k]: got.get(k) or {"rc": -1, "out": "", "err": missing.get(k, "no output")}
                           for k in keys}


def run_write_tests(sessions: dict, hosts: dict, *, timeout: Optional[float] = None, workers: int = 16,
                    progress=None) -> None:
    """One extra exec per destination that has such directories (only called with --write-test)."""
    plan = write_test_plan(hosts)
    jobs = [(n, d) for n, d in plan.items() if sessions.get(n) is not None and sessions[n].conn is not None]
    if not jobs:
        return
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs))), thread_name_prefix="gather-wt") as pool:
        futs = []
        for name, dirs in jobs:
            if progress:
                progress(name, "write-test", f"{len(dirs)} directories")
            futs.append(pool.submit(_one_host, sessions[name].conn, hosts[name], dirs, timeout))
        for f in futs:
            f.result()
