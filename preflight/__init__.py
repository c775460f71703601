"""preflight: live-migration readiness for KVM/libvirt clusters."""

__version__ = "0.1.0"
