"""nfs-ganesha config parsing on the project's documentation sample and the lab's real config."""

import pytest

from _fixtures import read
from preflight.facts.exports import admit, covering_export
from preflight.facts.ganesha import GaneshaError, includes, parse_config, parse_ganesha


def test_lab_config():
    (e,) = parse_ganesha(read("nfs/ganesha.conf.lab"), "/tmp/preflight-lab/nas/ganesha.conf")
    assert (e.path, e.pseudo, e.export_id, e.protocols) == ("/tmp/preflight-lab/nas/export", "/export", 1, ("3", "4"))
    assert e.rules == () and e.fallback.access == "rw" and e.fallback.squash == "none"
    assert admit(e, ("hv2",), "10.251.7.12").writable
    exp, real = covering_export((e,), "/tmp/preflight-lab/nas/export/vm-nfs.qcow2", "3")
    assert exp is e and real.endswith("vm-nfs.qcow2")
    assert covering_export((e,), "/export/vm-nfs.qcow2", "3") == (None, None)     # v3 needs the real Path
    assert covering_export((e,), "/export/vm-nfs.qcow2", "4.1")[1] == "/tmp/preflight-lab/nas/export/vm-nfs.qcow2"


def test_export_txt_sample_is_rejected_where_it_is_malformed():
    # nfs-ganesha's own sample has "Export_Id - 0;" (a typo) at line 261: ganesha refuses that too
    with pytest.raises(GaneshaError, match="line 261"):
        parse_ganesha(read("nfs/ganesha-export.txt.nfs-ganesha"))


@pytest.fixture(scope="module")
def sample():
    text = "\n".join(read("nfs/ganesha-export.txt.nfs-ganesha").splitlines()[:252])
    return {e.export_id: e for e in parse_ganesha(text, "export.txt")}


def test_export_defaults_and_client_blocks(sample):
    e1 = sample[1]
    assert e1.path == "/export/exp1" and e1.protocols == ("3", "4")       # EXPORT overrides EXPORT_DEFAULTS
    assert sample[2].protocols == ("4",)                                  # from EXPORT_DEFAULTS
    assert [r.spec for r in e1.rules] == ["192.168.0.10", "192.168.1.0/8", "192.168.0.0/16", "192.168.0.22"]
    first = e1.rules[0]
    assert first.squash == "none" and first.access == "rw"                # Access_Type inherited from EXPORT


def test_first_matching_client_block_wins(sample):
    e1 = sample[1]
    # 192.168.1.0/8 is 192.0.0.0/8: the FIRST block already matches 192.168.0.22 (the sample's
    # comment says the second one would; first-match order is what counts)
    adm = admit(e1, (), "192.168.0.22")
    assert adm.rule.spec == "192.168.1.0/8" and adm.rule.access == "rw" and adm.rule.squash == "none"
    assert adm.rule.where == "export.txt:191"
    adm = admit(e1, (), "10.9.9.9")             # no CLIENT block: the EXPORT's own permissions
    assert adm.rule.spec == "*" and adm.writable
    e3 = sample[3]                                # no Access_Type outside CLIENT: default None
    assert admit(e3, ("hv1",), "10.0.0.1").rule is None


def test_comments_quotes_nesting_includes():
    text = ('%include "/etc/ganesha/exports.conf"\n'
            'EXPORT { # a comment { with braces }\n'
            '  Export_Id = 7; Path = "/srv/with space"; Pseudo = /p;\n'
            '  FSAL { Name = VFS; }\n'
            '  CLIENT { Clients = "*.example.org", 10.0.0.0/24; Access_Type = RO; }\n'
            '}\n')
    assert includes(text) == ["/etc/ganesha/exports.conf"]
    (e,) = parse_ganesha(text)
    assert e.path == "/srv/with space" and [r.spec for r in e.rules] == ["*.example.org", "10.0.0.0/24"]
    assert admit(e, ("hv1.example.org",), None).rule.access == "ro"


def test_unbalanced_braces_are_errors():
    with pytest.raises(GaneshaError):
        parse_config("EXPORT { Path = /x;\n")
    with pytest.raises(GaneshaError):
        parse_config("}\n")


def test_commented_out_example_config_has_no_exports():
    # nfs-ganesha's ganesha.conf.example: every block commented out -> no export (never a guess)
    assert parse_ganesha(read("nfs/ganesha.conf.example.nfs-ganesha")) == ()
