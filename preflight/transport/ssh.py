"""SSH transport (paramiko): one `Connection` per host, strict host keys, quoted argv.

One `SshContext` per run parses ssh_config and known_hosts ONCE (re-reading them per connection
made 200-host fan-outs grow with N^2), loads identity files once, owns the jump-host
connections and closes everything at the end:

    with SshContext(SshSettings(ssh_config="~/.ssh/config")) as ctx:
        conn = ctx.connect(HostTarget("hv1"))
        res = conn.run(["cat", "/etc/machine-id"])

The transport quotes every argument (shlex.join); callers never paste strings into commands.
Commands run through the remote login shell, which must be POSIX (sh, bash, dash, zsh).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import select
import shlex
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

import paramiko

from preflight.filesafe import UnsafeFileError, check_private_file
from preflight.transport.errors import (
    AuthFailed,
    ChannelError,
    CommandTimeout,
    ConfigError,
    ConnectFailed,
    ConnectTimeout,
    HostKeyChanged,
    HostKeyUnknown,
    OutputTooLarge,
    TransportError,
)
from preflight.transport.known_hosts import GLOBAL_FILES, USER_FILES, KnownHostsSet, split_paths

__all__ = [
    "HostTarget", "SshSettings", "SshContext", "Connection", "CommandResult",
    "SshConfigFile", "KnownHostsSet", "fingerprint_sha256", "hostkey_name",
]

# paramiko logs handshake failures at ERROR; without a handler Python's last-resort handler
# would print them on stderr next to our own one-line errors. Apps that configure logging
# still receive them (propagation is unchanged).
logging.getLogger("paramiko").addHandler(logging.NullHandler())

READ_CHUNK = 1 << 20
# Bytes one exec may return (stdout + stderr). The largest real fact batch is a few MiB (a
# host's whole nft ruleset and lsblk); a host that sends more is broken or hostile (V6), and
# buffering it would cost the operator's memory, 16 hosts wide.
MAX_EXEC_BYTES = 64 << 20
DEFAULT_WINDOW = 8 << 20          # per-channel window: large outputs stream without stalls
DEFAULT_MAX_PACKET = 32768


# --- inputs -----------------------------------------------------------------------------

@dataclass(frozen=True)
class HostTarget:
    """What the transport needs to know about one inventory host.

    `name` is the inventory name (and the ssh_config Host alias). `address`, `port` and
    `user` are inventory overrides; None means "as ssh_config says" (then the defaults:
    the name itself, 22, the local user)."""

    name: str
    address: Optional[str] = None
    port: Optional[int] = None
    user: Optional[str] = None


@dataclass(frozen=True)
class SshSettings:
    ssh_config: Optional[str] = None          # None: ~/.ssh/config when it exists
    known_hosts: Optional[str] = None         # None: ~/.ssh/known_hosts
    trust_new_host_keys: bool = False         # first-contact trust; a CHANGED key is never accepted
    connect_timeout: float = 10.0             # TCP connect + SSH handshake + auth
    command_timeout: float = 60.0             # default for run()
    keepalive_interval: int = 15              # seconds between SSH keepalives (0 = off)
    identity_files: tuple = ()                # extra private keys tried after ssh_config's
    use_agent: bool = True
    default_user: Optional[str] = None        # None: the local user (like ssh)


# --- fingerprints and known_hosts -------------------------------------------------------

def fingerprint_sha256(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def hostkey_name(address: str, port: int) -> str:
    """How known_hosts names a host: `addr` on port 22, `[addr]:port` otherwise."""
    return address if int(port) == 22 else f"[{address}]:{port}"


_RSA_ALGOS = ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")


# --- ssh_config -------------------------------------------------------------------------

@dataclass(frozen=True)
class ResolvedHost:
    name: str
    address: str
    port: int
    user: str
    identity_files: tuple
    proxy_jump: Optional[str]
    hostkey_alias: Optional[str]
    known_hosts_files: Optional[tuple] = None        # ssh_config UserKnownHostsFile (all; None: default)
    global_known_hosts_files: Optional[tuple] = None  # ssh_config GlobalKnownHostsFile (None: default)
    hash_known_hosts: bool = False                    # ssh_config HashKnownHosts

    @property
    def hostkey_name(self) -> str:
        return self.hostkey_alias or hostkey_name(self.address, self.port)


class SshConfigFile:
    """ssh_config parsed once. `resolve()` applies inventory overrides on top of it."""

    def __init__(self, path: Optional[str]):
        if path is None:
            default = os.path.expanduser("~/.ssh/config")
            path = default if os.path.exists(default) else None
        self.path = os.path.expanduser(path) if path else None
        if self.path:
            try:
                check_private_file(self.path, "ssh_config")
            except UnsafeFileError as exc:
                raise ConfigError("-", str(exc)) from exc
            try:
                self._config = paramiko.SSHConfig.from_path(self.path)
            except (OSError, paramiko.SSHException) as exc:
                raise ConfigError("-", f"cannot read ssh_config {self.path}: {exc}") from exc
        else:
            self._config = paramiko.SSHConfig()

    def resolve(self, name: str, *, address=None, port=None, user=None,
                default_user=None) -> ResolvedHost:
        opts = self._config.lookup(name)
        jump = opts.get("proxyjump")
        if jump and jump.strip().lower() == "none":
            jump = None
        local_user = default_user or _local_user()
        return ResolvedHost(
            name=name,
            address=address or opts.get("hostname") or name,
            port=int(port or opts.get("port") or 22),
            user=user or opts.get("user") or local_user,
            identity_files=tuple(os.path.expanduser(p) for p in opts.get("identityfile", [])),
            proxy_jump=jump,
            hostkey_alias=opts.get("hostkeyalias"),
            known_hosts_files=_paths(opts.get("userknownhostsfile")),
            global_known_hosts_files=_paths(opts.get("globalknownhostsfile")),
            hash_known_hosts=str(opts.get("hashknownhosts") or "").lower() == "yes",
        )


def _paths(value) -> Optional[tuple]:
    paths = split_paths(value)
    return None if paths is None else tuple(paths)


def _local_user() -> str:
    try:
        import pwd
        return pwd.getpwuid(os.getuid()).pw_name
    except Exception:  # pragma: no cover - non-POSIX
        return os.environ.get("USER", "root")


def _parse_jump_hop(hop: str):
    """`[user@]host[:port]` (also `ssh://user@host:port`) -> (user, host, port)."""
    hop = hop.strip()
    if hop.startswith("ssh://"):
        hop = hop[len("ssh://"):]
    user = None
    if "@" in hop:
        user, hop = hop.rsplit("@", 1)
    port = None
    if hop.startswith("["):                   # [v6addr]:port
        host, _, rest = hop[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif hop.count(":") == 1:
        host, p = hop.split(":")
        port = int(p)
    else:
        host = hop
    return user, host, port


# --- results ----------------------------------------------------------------------------

@dataclass
class CommandResult:
    argv: list
    rc: int                                   # -1 when the remote sent no exit status (signal)
    stdout: str
    stderr: str
    elapsed: float
    stdout_bytes: bytes = field(default=b"", repr=False)
    stderr_bytes: bytes = field(default=b"", repr=False)

    @property
    def ok(self) -> bool:
        return self.rc == 0


# --- connections ------------------------------------------------------------------------

class Connection:
    """One authenticated SSH connection to one host. Thread-safe: several channels may run
    at once (sshd's MaxSessions, default 10, bounds how many)."""

    def __init__(self, name: str, resolved: ResolvedHost, transport: paramiko.Transport,
                 *, command_timeout: float, via: Optional["Connection"] = None,
                 connect_elapsed: float = 0.0):
        self.name = name
        self.resolved = resolved
        self.address = resolved.address
        self.port = resolved.port
        self.user = resolved.user
        self.transport = transport
        self.via = via
        self.command_timeout = command_timeout
        self.max_exec_bytes = MAX_EXEC_BYTES
        self.connect_elapsed = connect_elapsed
        self._lock = threading.Lock()
        self._round_trips = 0
        self._closed = False
        self.abort_reason: Optional[str] = None

    # -- bookkeeping --
    @property
    def round_trips(self) -> int:
        return self._round_trips

    def _count(self) -> None:
        with self._lock:
            self._round_trips += 1

    @property
    def is_root(self) -> bool:
        return self.user == "root"

    @property
    def active(self) -> bool:
        return not self._closed and self.transport.is_active()

    def command_line(self, argv: Sequence[str], *, sudo: Optional[bool] = None) -> str:
        if isinstance(argv, (str, bytes)) or not argv:
            raise TypeError("argv must be a non-empty list of strings; the transport quotes it")
        argv = [str(a) for a in argv]
        use_sudo = (not self.is_root) if sudo is None else sudo
        if use_sudo:
            argv = ["sudo", "-n", "--"] + argv
        return shlex.join(argv)

    def abort(self, reason: str) -> None:
        """Close the connection from another thread (a time budget ran out): whatever waits on
        it fails now, saying `reason`."""
        self.abort_reason = reason
        self.close()

    def _aborted(self) -> ChannelError:
        return ChannelError(self.name, f"{self.name} ({self.address}): {self.abort_reason}", address=self.address)

    def _open_session(self, window_size=DEFAULT_WINDOW) -> paramiko.Channel:
        if self.abort_reason:
            raise self._aborted()
        if self._closed:
            raise ChannelError(self.name, f"{self.name}: connection already closed",
                               address=self.address)
        try:
            return self.transport.open_session(window_size=window_size,
                                               max_packet_size=DEFAULT_MAX_PACKET,
                                               timeout=self.command_timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ChannelError(
                self.name,
                f"{self.name} ({self.address}): cannot open an SSH session channel: {exc or type(exc).__name__}"
                " (sshd MaxSessions reached or the connection dropped; retry or raise MaxSessions)",
                address=self.address) from exc

    # -- commands --
    def run(self, argv: Sequence[str], timeout: Optional[float] = None,
            stdin=None, *, sudo: Optional[bool] = None) -> CommandResult:
        """Run argv (quoted by the transport; `sudo -n` prefixed when the user is not root).

        stdout and stderr are read concurrently, so outputs of any size never deadlock.
        A non-zero rc is returned, not raised. On timeout the channel is closed and
        CommandTimeout raised. One exec = one round trip."""
        timeout = self.command_timeout if timeout is None else timeout
        cmd = self.command_line(argv, sudo=sudo)
        return self._exec(list(argv), cmd, timeout, stdin)

    def run_script(self, script: str, timeout: Optional[float] = None,
                   *, sudo: Optional[bool] = None) -> CommandResult:
        """Send a POSIX sh script on stdin to `sh -s` (one round trip for a whole batch)."""
        return self.run(["sh", "-s"], timeout=timeout, stdin=script, sudo=sudo)

    def open_channel(self, argv: Sequence[str], *, sudo: Optional[bool] = None,
                     window_size: int = DEFAULT_WINDOW) -> paramiko.Channel:
        """Start argv on a long-lived exec channel; the caller reads/writes and closes it."""
        cmd = self.command_line(argv, sudo=sudo)
        chan = self._open_session(window_size=window_size)
        self._count()
        try:
            chan.exec_command(cmd)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            chan.close()
            raise ChannelError(self.name, f"{self.name}: exec of {argv[0]} failed: {exc}",
                               address=self.address) from exc
        return chan

    def _exec(self, argv, cmd: str, timeout: float, stdin) -> CommandResult:
        started = time.monotonic()
        chan = self._open_session()
        self._count()
        out, err = [], []
        feeder = None
        try:
            chan.exec_command(cmd)
            if stdin is not None:
                data = stdin.encode() if isinstance(stdin, str) else bytes(stdin)
                feeder = threading.Thread(target=_feed_stdin, args=(chan, data),
                                          name=f"stdin-{self.name}", daemon=True)
                feeder.start()
            else:
                chan.shutdown_write()
            fd = chan.fileno()
            deadline = started + timeout
            size = 0
            while True:
                # one chunk of each per turn: a stream that never pauses cannot put off the
                # deadline or the byte cap (both checked every turn)
                if chan.recv_ready():
                    out.append(chan.recv(READ_CHUNK))
                    size += len(out[-1])
                if chan.recv_stderr_ready():
                    err.append(chan.recv_stderr(READ_CHUNK))
                    size += len(err[-1])
                if self.abort_reason:
                    raise self._aborted()
                if size > self.max_exec_bytes:
                    raise OutputTooLarge(
                        self.name, f"{self.name} ({self.address}): `{_short(cmd)}` printed more than "
                        f"{self.max_exec_bytes >> 20} MiB; its channel was closed (a broken or hostile host)",
                        address=self.address, argv=list(argv), limit=self.max_exec_bytes)
                if (chan.closed or (chan.exit_status_ready() and chan.eof_received)) \
                        and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CommandTimeout(
                        self.name,
                        f"{self.name} ({self.address}): `{_short(cmd)}` did not finish within "
                        f"{timeout:g} s; its channel was closed (raise the command timeout if the host is just slow)",
                        address=self.address, argv=list(argv), timeout=timeout,
                        stdout=b"".join(out), stderr=b"".join(err))
                if not chan.recv_ready() and not chan.recv_stderr_ready():
                    select.select([fd], [], [], min(remaining, 0.5))
            if self.abort_reason:
                raise self._aborted()
            rc = chan.recv_exit_status() if chan.exit_status_ready() else -1
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if self.abort_reason:
                raise self._aborted() from exc
            raise ChannelError(self.name, f"{self.name} ({self.address}): `{_short(cmd)}` broke: {exc}",
                               address=self.address) from exc
        finally:
            chan.close()
        ob, eb = b"".join(out), b"".join(err)
        return CommandResult(list(argv), rc, ob.decode("utf-8", "replace"),
                             eb.decode("utf-8", "replace"), time.monotonic() - started, ob, eb)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.transport.close()
        except Exception:
            pass
        sock = getattr(self.transport, "sock", None)
        try:
            if sock is not None:
                sock.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<Connection {self.name} {self.user}@{self.address}:{self.port} rt={self._round_trips}>"


def _feed_stdin(chan: paramiko.Channel, data: bytes) -> None:
    try:
        chan.sendall(data)
        chan.shutdown_write()
    except Exception:
        pass


def _short(cmd: str, limit: int = 80) -> str:
    cmd = " ".join(cmd.split())
    return cmd if len(cmd) <= limit else cmd[: limit - 3] + "..."


# --- the per-run context ----------------------------------------------------------------

class SshContext:
    """Per-run SSH state: parsed ssh_config and known_hosts, loaded keys, jump connections."""

    def __init__(self, settings: Optional[SshSettings] = None):
        self.settings = settings or SshSettings()
        self.config = SshConfigFile(self.settings.ssh_config)
        # explicit setting (only that file) > ssh_config User/GlobalKnownHostsFile > OpenSSH's
        # defaults; each set parsed once (preflight.transport.known_hosts)
        self._known_files: dict = {}
        if self.settings.known_hosts:
            path = os.path.expanduser(self.settings.known_hosts)
            self._known_files[None] = KnownHostsSet(files=(path,), write_to=path)
        self._lock = threading.Lock()
        self._key_cache: dict = {}            # path -> PKey | None (unloadable)
        self._key_notes: dict = {}            # path -> why it could not be used
        self._jumps: dict = {}                # (hop, via id) -> Connection
        self._jump_locks: dict = {}
        self._connections: list = []
        self._agent = None
        self._agent_keys = None
        self.on_connect = None                # called with every new Connection (run deadline)

    # -- keys --
    def _agent_key_list(self) -> list:
        if not self.settings.use_agent or not os.environ.get("SSH_AUTH_SOCK"):
            return []
        with self._lock:
            if self._agent_keys is None:
                try:
                    self._agent = paramiko.Agent()
                    self._agent_keys = list(self._agent.get_keys())
                except Exception:
                    self._agent_keys = []
            return list(self._agent_keys)

    def _load_key(self, path: str):
        with self._lock:
            if path in self._key_cache:
                return self._key_cache[path]
        key = None
        if os.path.exists(path):
            try:
                key = paramiko.PKey.from_path(path)
            except paramiko.PasswordRequiredException:
                self._key_notes[path] = "encrypted (load it into ssh-agent)"
            except Exception as exc:
                self._key_notes[path] = f"unreadable: {exc}"
        with self._lock:
            self._key_cache[path] = key
        return key

    def _keys_for(self, resolved: ResolvedHost) -> list:
        keys = [("agent", k) for k in self._agent_key_list()]
        paths = list(resolved.identity_files) + [os.path.expanduser(p) for p in self.settings.identity_files]
        if not paths:
            paths = [os.path.expanduser(f"~/.ssh/{n}") for n in ("id_ed25519", "id_ecdsa", "id_rsa")]
        seen = set()
        for path in paths:
            if path in seen:
                continue
            seen.add(path)
            key = self._load_key(path)
            if key is not None:
                keys.append((path, key))
        return keys

    def known_hosts_for(self, resolved: ResolvedHost) -> KnownHostsSet:
        if None in self._known_files:
            return self._known_files[None]
        user = resolved.known_hosts_files
        user = tuple(os.path.expanduser(p) for p in USER_FILES) if user is None else user
        glob = resolved.global_known_hosts_files
        glob = GLOBAL_FILES if glob is None else glob
        key = (user, glob, resolved.hash_known_hosts)
        with self._lock:
            kh = self._known_files.get(key)
            if kh is None:
                kh = self._known_files[key] = KnownHostsSet(files=user + tuple(glob),
                                                            write_to=user[0] if user else None,
                                                            hash_names=resolved.hash_known_hosts)
            return kh

    # -- connecting --
    def resolve(self, target: HostTarget) -> ResolvedHost:
        return self.config.resolve(target.name, address=target.address, port=target.port,
                                   user=target.user, default_user=self.settings.default_user)

    def connect(self, target: HostTarget) -> Connection:
        """Open, verify and authenticate a connection (through ProxyJump when configured)."""
        resolved = self.resolve(target)
        via = None
        if resolved.proxy_jump:
            via = self._jump_chain(target.name, resolved.proxy_jump)
        conn = self._connect_resolved(target.name, resolved, via)
        with self._lock:
            self._connections.append(conn)
        if self.on_connect is not None:
            self.on_connect(conn)
        return conn

    def _jump_chain(self, for_host: str, proxy_jump: str, depth: int = 0) -> Connection:
        if depth > 4:
            raise ConnectFailed(for_host, f"{for_host}: ProxyJump chain too deep (loop in ssh_config?)")
        via = None
        for hop in proxy_jump.split(","):
            user, host, port = _parse_jump_hop(hop)
            key = (hop.strip(), id(via) if via else None)
            with self._lock:
                lock = self._jump_locks.setdefault(key, threading.Lock())
            with lock:                         # one connection per jump host, shared by all
                conn = self._jumps.get(key)
                if conn is None or not conn.active:
                    resolved = self.config.resolve(host, port=port, user=user,
                                                   default_user=self.settings.default_user)
                    hop_via = via
                    if hop_via is None and resolved.proxy_jump and depth < 4:
                        hop_via = self._jump_chain(host, resolved.proxy_jump, depth + 1)
                    try:
                        conn = self._connect_resolved(host, resolved, hop_via)
                    except TransportError as exc:
                        raise type(exc)(for_host, f"{for_host}: via ProxyJump {hop.strip()}: {exc}",
                                        address=exc.address) if type(exc) in (ConnectFailed, ConnectTimeout, AuthFailed) \
                            else exc
                    self._jumps[key] = conn
                    if self.on_connect is not None:
                        self.on_connect(conn)
            via = conn
        return via

    def _open_socket(self, name: str, resolved: ResolvedHost, via: Optional[Connection]):
        timeout = self.settings.connect_timeout
        where = f"{resolved.address}:{resolved.port}"
        if via is not None:
            try:
                return via.transport.open_channel("direct-tcpip", (resolved.address, resolved.port),
                                                  ("127.0.0.1", 0), timeout=timeout)
            except paramiko.ChannelException as exc:
                raise ConnectFailed(name, f"{name}: jump host {via.name} cannot reach {where}: {exc.text}"
                                    " (check the address and that the jump host may forward: AllowTcpForwarding)",
                                    address=resolved.address) from exc
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise ConnectTimeout(name, f"{name}: jump host {via.name} did not open a tunnel to {where} "
                                     f"within {timeout:g} s: {exc}", address=resolved.address) from exc
        try:
            sock = socket.create_connection((resolved.address, resolved.port), timeout=timeout)
        except socket.gaierror as exc:
            raise ConnectFailed(name, f"{name}: cannot resolve {resolved.address!r}: {exc.strerror} "
                                "(fix the inventory address or ssh_config HostName)",
                                address=resolved.address) from exc
        except socket.timeout as exc:
            raise ConnectTimeout(name, f"{name}: TCP connect to {where} timed out after {timeout:g} s "
                                 "(host down, or a firewall drops SSH)", address=resolved.address) from exc
        except OSError as exc:
            raise ConnectFailed(name, f"{name}: TCP connect to {where} failed: {exc.strerror or exc} "
                                "(is sshd running and the port right?)", address=resolved.address) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return sock

    def _connect_resolved(self, name: str, resolved: ResolvedHost, via: Optional[Connection]) -> Connection:
        started = time.monotonic()
        timeout = self.settings.connect_timeout
        sock = self._open_socket(name, resolved, via)
        transport = paramiko.Transport(sock)
        ok = False
        try:
            transport.banner_timeout = timeout
            transport.handshake_timeout = timeout
            transport.auth_timeout = timeout
            known_name = resolved.hostkey_name
            known = self.known_hosts_for(resolved).lookup(known_name)
            self._prefer_known_key_types(transport, known)
            try:
                transport.start_client(timeout=timeout)
            except paramiko.SSHException as exc:
                text = str(exc) or type(exc).__name__
                cls = ConnectTimeout if "timeout" in text.lower() or "banner" in text.lower() else ConnectFailed
                raise cls(name, f"{name}: SSH handshake with {resolved.address}:{resolved.port} failed: {text}",
                          address=resolved.address) from exc
            except (EOFError, OSError) as exc:
                raise ConnectFailed(name, f"{name}: SSH handshake with {resolved.address}:{resolved.port} "
                                    f"failed: {exc or 'connection closed'}", address=resolved.address) from exc
            if not transport.is_active() or not transport.initial_kex_done:
                # start_client returns silently when its timeout expires mid-handshake
                exc = transport.get_exception()
                raise ConnectTimeout(
                    name, f"{name}: SSH handshake with {resolved.address}:{resolved.port} did not finish "
                    f"within {timeout:g} s{': ' + str(exc) if exc else ''} (is it an SSH server? overloaded?)",
                    address=resolved.address)
            offered = transport.get_remote_server_key()
            new_key = self._verify_host_key(name, resolved, offered, known)
            self._authenticate(name, resolved, transport)
            if new_key:
                # first-contact trust is stored only once the host has also let us in (W1)
                self.known_hosts_for(resolved).add(known_name, offered)
            if self.settings.keepalive_interval:
                transport.set_keepalive(self.settings.keepalive_interval)
            ok = True
        finally:
            if not ok:
                transport.close()
                try:
                    sock.close()
                except Exception:
                    pass
        return Connection(name, resolved, transport, command_timeout=self.settings.command_timeout,
                          via=via, connect_elapsed=time.monotonic() - started)

    @staticmethod
    def _prefer_known_key_types(transport: paramiko.Transport, known: dict) -> None:
        if not known:
            return
        opts = transport.get_security_options()
        preferred = []
        for ktype in known:
            preferred.extend(_RSA_ALGOS if ktype == "ssh-rsa" else (ktype,))
        available = list(opts.key_types)
        first = [k for k in preferred if k in available]
        if first:
            opts.key_types = first + [k for k in available if k not in first]

    def _verify_host_key(self, name: str, resolved: ResolvedHost, key: paramiko.PKey, known: dict) -> bool:
        """Raise unless the key is known (False) or may be trusted on first contact (True)."""
        known_name = resolved.hostkey_name
        fp = fingerprint_sha256(key)
        ktype = key.get_name()
        known_hosts = self.known_hosts_for(resolved)
        kh = known_hosts.path
        port_opt = f"-p {resolved.port} " if resolved.port != 22 else ""
        if known_hosts.revoked(known_name, key):
            raise HostKeyChanged(name, f"{name} ({resolved.address}:{resolved.port}): host key {ktype} {fp} is "
                                 "marked @revoked in known_hosts; never accepted", address=resolved.address,
                                 fingerprint=fp, key_type=ktype)
        if known:
            expected = known.get(ktype)
            if expected is not None and expected.asbytes() == key.asbytes():
                return False
            old = ", ".join(f"{t} {fingerprint_sha256(k)}" for t, k in known.items())
            raise HostKeyChanged(
                name,
                f"{name} ({resolved.address}:{resolved.port}): HOST KEY CHANGED: offered {ktype} {fp}, "
                f"known_hosts {kh} has {old} for {known_name}. This may be an attack; it is never accepted "
                f"automatically. Verify the new fingerprint on the host's console (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), "
                f"then remove the old entry (ssh-keygen -f {kh} -R '{known_name}') and add the new one",
                address=resolved.address, fingerprint=fp, key_type=ktype)
        if known_hosts.has_authority(known_name):
            raise HostKeyUnknown(
                name, f"{name} ({resolved.address}:{resolved.port}): known_hosts vouches for {known_name} through "
                f"a @cert-authority, which preflight cannot verify (it does not use host certificates); add the "
                f"host's own key ({ktype} {fp}, verified out of band) to {kh}. Never trusted on first contact",
                address=resolved.address, fingerprint=fp, key_type=ktype)
        if self.settings.trust_new_host_keys:
            return True
        raise HostKeyUnknown(
            name,
            f"{name} ({resolved.address}:{resolved.port}): unknown host key {ktype} {fp} (no entry for "
            f"{known_name} in {kh}). Verify the fingerprint out of band (on the host: ssh-keygen -lf "
            f"/etc/ssh/ssh_host_{ktype.replace('ssh-', '').split('-')[0]}_key.pub), then add it: "
            f"ssh-keyscan {port_opt}{resolved.address} >> {kh}, or rerun with --trust-new-host-keys",
            address=resolved.address, fingerprint=fp, key_type=ktype)

    def _authenticate(self, name: str, resolved: ResolvedHost, transport: paramiko.Transport) -> None:
        tried = []
        for label, key in self._keys_for(resolved):
            try:
                transport.auth_publickey(resolved.user, key)
            except paramiko.BadAuthenticationType as exc:
                raise AuthFailed(name, f"{name} ({resolved.address}): sshd does not accept public keys for "
                                 f"{resolved.user} (allowed: {', '.join(exc.allowed_types)})",
                                 address=resolved.address) from exc
            except paramiko.AuthenticationException:
                tried.append(f"{label}:{key.get_name()}")
                continue
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise AuthFailed(name, f"{name} ({resolved.address}): authentication broke off: {exc}",
                                 address=resolved.address) from exc
            if transport.is_authenticated():
                return
        notes = "; ".join(f"{p} {why}" for p, why in self._key_notes.items())
        raise AuthFailed(
            name,
            f"{name} ({resolved.address}:{resolved.port}): no key accepted for user {resolved.user} "
            f"(tried: {', '.join(tried) or 'no usable key'}{'; ' + notes if notes else ''}). "
            "Add the public key to the host's authorized_keys, or set IdentityFile/User in ssh_config",
            address=resolved.address)

    # -- closing --
    def close(self) -> None:
        """Close every connection made through this context (targets first, then jumps)."""
        with self._lock:
            conns, self._connections = self._connections, []
            jumps = list(self._jumps.values())
            self._jumps.clear()
        for conn in conns:
            conn.close()
        for conn in reversed(jumps):
            conn.close()
        if self._agent is not None:
            try:
                self._agent.close()
            except Exception:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
