"""transport: SSH (paramiko) connections and libvirt over them.

`preflight.transport.ssh` and `.errors` import no libvirt; `.libvirt_bridge` imports
libvirt lazily, inside functions, so `preflight --help` and replay work without it.
"""
