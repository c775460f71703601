#!/usr/bin/env bash
# Installs everything the lab (tests/lab/lab.py) and the browser test (tests/browser) need on a fresh
# Debian 12 machine, as root.
# Idempotent: apt-get skips what is already installed.  Called from .ci/run.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

packages=(
  # hypervisors: libvirtd + QEMU/KVM + virsh, qemu-img
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils
  # QEMU's own NFS / iSCSI / gluster block drivers (libnfs, libiscsi)
  qemu-block-extra libnfs-utils
  # each lab host has its own sshd; the lab and libvirt's qemu+ssh use the client
  openssh-server openssh-client
  # firewall_reject scenario
  nftables
  # storage host: userspace NFS server + rpcbind (+ showmount from nfs-common),
  # GlusterFS (server and FUSE client), iSCSI target (tgt) and its client tools
  nfs-ganesha nfs-ganesha-vfs nfs-common rpcbind glusterfs-server glusterfs-client tgt libiscsi-bin
  # network namespaces, unshare/nsenter, timeout
  iproute2 util-linux coreutils procps
  # building libvirt-python from PyPI links the system libvirt
  libvirt-dev pkg-config socat
  # tests/browser: the HTML report rendered and printed by headless Chromium (DevTools on a pipe)
  chromium
)

apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"

# If a postinst started daemons in the root namespace, they do not collide with the lab's: the
# lab's copies run in their own network namespaces with a private /run and private state dirs.
echo "lab dependencies installed: ${packages[*]}"
