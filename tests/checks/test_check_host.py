from factories import as_list, host, pair_ctx, run_spec, statuses
from preflight.checks.host import host_identity, host_versions
from preflight.facts.compat_facts import CompatFacts


def test_distinct_hosts_pass():
    assert statuses(host_identity(pair_ctx())) == ["pass", "pass", "pass", "pass"]


def test_same_host_uuid_fails():
    same = "4c4c4544-0000-1000-8000-000000000000"
    [uuid, _, _, _] = as_list(host_identity(pair_ctx(host("hv1", host_uuid=same), host("hv2", host_uuid=same))))
    assert uuid.status.value == "fail" and "same host" in uuid.message


def test_localhost_destination_hostname_fails():
    for name in ("localhost", "localhost.localdomain"):
        [_, hn, _, _] = as_list(host_identity(pair_ctx(dst=host("hv2", libvirt_hostname=name))))
        assert hn.status.value == "fail" and "FQDN" in hn.message


def test_same_machine_id_warns():
    [_, _, mid, _] = as_list(host_identity(pair_ctx(host("hv1", machine_id="ab" * 16),
                                                 host("hv2", machine_id="ab" * 16))))
    assert mid.status.value == "warn"


def test_unknown_facts_are_error_never_pass():
    ctx = pair_ctx(host("hv1", host_uuid=None, machine_id=None), host("hv2", libvirt_hostname=None))
    assert statuses(host_identity(ctx)) == ["error", "error", "error", "error"]


def test_missing_capabilities_fact_makes_the_runner_say_error():
    ctx = pair_ctx(dst=host("hv2", host_uuid=None, fact_errors={"capabilities": "getCapabilities failed"}))
    results = run_spec(host_identity, ctx.cluster)
    hv1_to_hv2 = [r for r in results if r.source == "hv1"]
    assert hv1_to_hv2 and all(r.status.value == "error" for r in hv1_to_hv2)


def test_a_shared_smbios_uuid_is_named_but_passes_when_libvirt_host_uuids_differ():
    """The lab's hypervisors share one SMBIOS UUID and set host_uuid in libvirtd.conf: they
    really migrate. With the host UUIDs equal too, the FAIL names the SMBIOS UUID as the cause."""
    smb = CompatFacts(smbios_uuid="d2f1c9a0-1111-2222-3333-444455556666")
    [uuid, *_] = as_list(host_identity(pair_ctx(host("hv1", compat=smb), host("hv2", compat=smb))))
    assert uuid.status.value == "pass" and "SMBIOS" in uuid.message
    same = "4c4c4544-0000-1000-8000-000000000000"
    [uuid, *_] = as_list(host_identity(pair_ctx(host("hv1", compat=smb, host_uuid=same),
                                                host("hv2", compat=smb, host_uuid=same))))
    assert uuid.status.value == "fail" and "SMBIOS UUID d2f1c9a0" in uuid.message


def test_the_same_libvirt_hostname_on_both_warns():
    [*_, name] = as_list(host_identity(pair_ctx(host("hv1", libvirt_hostname="hv.example.org"),
                                                host("hv2", libvirt_hostname="hv.example.org"))))
    assert name.status.value == "warn" and name.item == "same-hostname"


def _versions(src_lv, src_qemu, dst_lv, dst_qemu):
    return {f.item: f for f in as_list(host_versions(pair_ctx(
        host("hv1", libvirt_version=src_lv, qemu_version=src_qemu),
        host("hv2", libvirt_version=dst_lv, qemu_version=dst_qemu))))}


def test_versions_same_or_newer_destination_pass_older_warns_unknown_is_error():
    same = _versions("9.0.0", "7.2.0", "9.0.0", "7.2.0")
    assert [f.status.value for f in same.values()] == ["pass", "pass"]
    newer = _versions("9.0.0", "7.2.0", "10.0.0", "8.2.1")
    assert [f.status.value for f in newer.values()] == ["pass", "pass"]
    older = _versions("10.0.0", "8.2.1", "9.0.0", "7.2.0")
    assert older["qemu"].status.value == "warn" and "7.2.0" in older["qemu"].message
    assert older["libvirt"].status.value == "warn" and "older libvirt" in older["libvirt"].message
    assert "machine type" in older["qemu"].message
    unknown = _versions("9.0.0", None, "9.0.0", "7.2.0")
    assert unknown["qemu"].status.value == "error" and unknown["libvirt"].status.value == "pass"
