"""Transport errors: each str() is one line that names the host and says what to do."""

from __future__ import annotations

from typing import Optional


class TransportError(Exception):
    """Something between this machine and a host's shell or libvirtd went wrong."""

    def __init__(self, host: str, message: str, *, address: Optional[str] = None):
        self.host = host
        self.address = address
        self.message = " ".join(str(message).split())   # always one line
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class ConfigError(TransportError):
    """ssh_config or known_hosts could not be read (the whole run cannot proceed); host is "-"."""


class HostKeyError(TransportError):
    """The host's SSH key could not be verified."""

    def __init__(self, host, message, *, address=None, fingerprint=None, key_type=None):
        super().__init__(host, message, address=address)
        self.fingerprint = fingerprint
        self.key_type = key_type


class HostKeyUnknown(HostKeyError):
    """known_hosts has no key for the host (first contact)."""


class HostKeyChanged(HostKeyError):
    """The host offered a key that differs from the one in known_hosts. Never accepted."""


class AuthFailed(TransportError):
    """No offered key was accepted."""


class ConnectFailed(TransportError):
    """TCP connect or SSH handshake failed (refused, unreachable, name not resolved, ...)."""


class ConnectTimeout(ConnectFailed):
    """TCP connect or SSH handshake did not finish in time."""


class CommandTimeout(TransportError):
    """A remote command did not finish in time; its channel was closed."""

    def __init__(self, host, message, *, address=None, argv=None, timeout=None,
                 stdout: bytes = b"", stderr: bytes = b""):
        super().__init__(host, message, address=address)
        self.argv = argv
        self.timeout = timeout
        self.stdout = stdout
        self.stderr = stderr


class OutputTooLarge(TransportError):
    """A remote command printed more than the per-exec byte cap; its channel was closed."""

    def __init__(self, host, message, *, address=None, argv=None, limit=None):
        super().__init__(host, message, address=address)
        self.argv = argv
        self.limit = limit


class ChannelError(TransportError):
    """A session channel could not be opened or broke (e.g. sshd MaxSessions reached)."""


class LibvirtError(TransportError):
    """A libvirt call over the bridge failed; the message carries libvirt's text."""

    def __init__(self, host, message, *, address=None, call=None, code=None):
        super().__init__(host, message, address=address)
        self.call = call
        self.code = code


class LibvirtTimeout(LibvirtError):
    """A libvirt call did not answer in time; the bridge is closed afterwards."""
