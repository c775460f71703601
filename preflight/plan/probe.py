"""A bounded TCP throughput probe for the migration network (behind an explicit option: it sends
traffic between two hypervisors).  The convergence forecast needs the link's raw throughput for the
final burst of a migration (sent with QEMU's rate limit off, pages the destination already holds),
which is faster than what a migration's first pass averages.

Run the receiver on the destination, then the sender on the source, each bounded in bytes and time:

    python -m preflight.plan.probe serve ADDRESS PORT [--timeout S]       # prints bytes seconds
    python -m preflight.plan.probe send ADDRESS PORT [--bytes N] [--timeout S]

Both print one line ``BYTES SECONDS``; ``throughput()`` turns it into bytes/s.  The receiver accepts
exactly one connection, stops at MAX_BYTES or its timeout, and closes; nothing stays listening.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

MAX_BYTES = 1 << 30          # never more than 1 GiB, whatever is asked
DEFAULT_BYTES = 256 << 20
CHUNK = 1 << 20


class ProbeError(RuntimeError):
    pass


def throughput(nbytes: int, seconds: float) -> float:
    if nbytes <= 0 or seconds <= 0:
        raise ProbeError(f"no throughput from {nbytes} bytes in {seconds} s")
    return nbytes / seconds


def serve(address: str, port: int, timeout: float = 20.0, ready=None) -> tuple:
    """Accept one connection, read until EOF (or MAX_BYTES / timeout): (bytes, seconds from the
    first byte to EOF)."""
    srv = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        srv.bind((address, port))
        srv.listen(1)
        srv.settimeout(timeout)
        if ready:
            ready()
        conn, _ = srv.accept()
    except OSError as exc:
        srv.close()
        raise ProbeError(f"probe receiver on {address}:{port}: {exc}") from exc
    srv.close()
    deadline = time.monotonic() + timeout
    n, t0 = 0, None
    with conn:
        conn.settimeout(timeout)
        while n < MAX_BYTES and time.monotonic() < deadline:
            b = conn.recv(CHUNK)
            if not b:
                break
            if t0 is None:
                t0 = time.monotonic()
            n += len(b)
    return n, (time.monotonic() - t0) if t0 else 0.0


def send(address: str, port: int, nbytes: int = DEFAULT_BYTES, timeout: float = 20.0) -> tuple:
    nbytes = min(int(nbytes), MAX_BYTES)
    buf = b"\x5a" * CHUNK
    try:
        conn = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        raise ProbeError(f"probe sender to {address}:{port}: {exc}") from exc
    sent, t0 = 0, time.monotonic()
    deadline = t0 + timeout
    with conn:
        while sent < nbytes and time.monotonic() < deadline:
            part = buf[:min(CHUNK, nbytes - sent)]
            conn.sendall(part)
            sent += len(part)
    return sent, time.monotonic() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m preflight.plan.probe", description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("serve", "send"))
    ap.add_argument("address")
    ap.add_argument("port", type=int)
    ap.add_argument("--bytes", type=int, default=DEFAULT_BYTES)
    ap.add_argument("--timeout", type=float, default=20.0)
    args = ap.parse_args(argv)
    try:
        if args.mode == "serve":
            n, s = serve(args.address, args.port, args.timeout)
        else:
            n, s = send(args.address, args.port, args.bytes, args.timeout)
    except ProbeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(n, f"{s:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
