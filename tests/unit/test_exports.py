"""exports(5) / exportfs -v parsing and client admission.

Recorded/published inputs come from tests/fixtures/nfs (see SOURCES.md); the inline snippets
below are syntax cases written by us to exercise one rule each, not recordings."""

import pytest

from _fixtures import read
from preflight.facts.exports import (ExportsError, admit, covering_export, merge_exports, parse_exportfs_v,
                                     parse_exports, parse_exports_dir)


@pytest.fixture(scope="module")
def man():
    return {e.path: e for e in parse_exports(read("nfs/exports.nfs-utils-man-example"))}


def test_man_page_example_parses(man):
    assert list(man) == ["/", "/projects", "/usr", "/home/joe", "/pub", "/srv/www", "/foo", "/build"]
    trusty = man["/"].rules[1]
    assert (trusty.spec, trusty.access, trusty.squash) == ("trusty", "rw", "none")
    joe = man["/home/joe"].rules[0]
    assert (joe.squash, joe.anonuid, joe.anongid) == ("all", 150, 100)
    assert man["/pub"].rules[0].spec == "*" and man["/pub"].rules[0].access == "ro"
    assert man["/"].where == "/etc/exports:2"


def test_dash_defaults_apply_to_following_clients(man):
    www = {r.spec: r for r in man["/srv/www"].rules}
    assert www["server"].access == "rw" and "sync" in www["server"].options
    assert www["@trusted"].access == "rw"
    assert www["@external"].access == "ro"          # its own (ro) overrides the -rw default


def test_default_is_read_only_and_root_squash():
    (e,) = parse_exports("/srv/vm 10.0.0.0/24\n")
    assert (e.rules[0].access, e.rules[0].squash, e.rules[0].anonuid) == ("ro", "root", 65534)


def test_cidr_ipv6_and_ipv4(man):
    foo = man["/foo"]
    assert admit(foo, (), "192.0.2.77").writable
    assert admit(foo, (), "2001:db8:9:e54::5").writable
    assert admit(foo, (), "198.51.100.1").rule is None


def test_wildcard_with_character_class(man):
    assert admit(man["/build"], ("buildhost7.local.domain",), "10.0.0.1").writable
    assert admit(man["/build"], ("buildhostx.local.domain",), "10.0.0.1").rule is None


def test_precedence_wildcard_before_netgroup(man):
    # /usr *.local.domain(ro) @trusted(rw): a matching wildcard wins, whatever the netgroup says
    adm = admit(man["/usr"], ("hv1.local.domain",), "10.0.0.1")
    assert adm.rule.access == "ro" and adm.undecided is None
    # not matching the wildcard: the netgroup may apply -> cannot decide (never guessed)
    adm = admit(man["/usr"], ("hv1.example.org",), "10.0.0.1")
    assert adm.rule is None and "@trusted" in adm.undecided


def test_precedence_host_before_network_regardless_of_order():
    (e,) = parse_exports("/vol 10.0.0.0/24(rw) hv2(ro)\n")
    assert admit(e, ("hv2",), "10.0.0.2").rule.spec == "hv2"       # single host beats network
    assert admit(e, ("hv3",), "10.0.0.3").rule.spec == "10.0.0.0/24"


def test_short_name_spec_matches_fqdn_and_netmask_form():
    (e,) = parse_exports("/vol hv1(rw) 10.1.0.0/255.255.0.0(rw)\n")
    assert admit(e, ("hv1.example.org",), None).writable
    assert admit(e, (), "10.1.9.9").writable


def test_syntax_continuation_comments_quotes_escapes():
    text = ('# comment\n'
            '"/srv/vm store" hv1(rw) \\\n'
            '    hv2(ro)   # trailing comment\n'
            '/srv/a\\040b *(rw,no_root_squash)\n'
            '/bare\n')
    exports = {e.path: e for e in parse_exports(text)}
    assert [r.spec for r in exports["/srv/vm store"].rules] == ["hv1", "hv2"]
    assert exports["/srv/vm store"].where == "/etc/exports:2"
    assert exports["/srv/a b"].rules[0].squash == "none"
    assert exports["/bare"].rules[0].spec == "*" and exports["/bare"].rules[0].access == "ro"


def test_relative_path_is_an_error():
    with pytest.raises(ExportsError):
        parse_exports("srv/vm hv1(rw)\n")


def test_exports_dir_files_are_named():
    text = "# preflight-file: /etc/exports.d/vm.exports\n/srv/vm hv1(rw)\n"
    (e,) = parse_exports_dir(text)
    assert e.where == "/etc/exports.d/vm.exports:1"


def test_merge_keeps_rule_order():
    merged = merge_exports(parse_exports("/v a(rw)\n/v b(ro)\n"))
    assert len(merged) == 1 and [r.spec for r in merged[0].rules] == ["a", "b"]


def test_exportfs_v_layout():
    # The layout nfs-utils' exportfs prints (path, TAB, client(options); a path longer than the
    # column on its own line, the client on the next, indented). Written by us after that layout.
    text = ("/srv/nfs4     \t<world>(ro,sync,wdelay,hide,crossmnt,no_subtree_check,fsid=0,sec=sys,secure,"
            "root_squash,no_all_squash)\n"
            "/srv/nfs4/vmstore-long-name\n"
            "\t\t10.251.7.0/24(rw,sync,wdelay,hide,no_subtree_check,sec=sys,secure,no_root_squash,no_all_squash)\n")
    root, vm = parse_exportfs_v(text)
    assert root.fsid_root and root.rules[0].spec == "*"
    assert vm.path == "/srv/nfs4/vmstore-long-name" and vm.rules[0].squash == "none"
    assert admit(vm, (), "10.251.7.12").writable
    with pytest.raises(ExportsError):
        parse_exportfs_v("/srv/truncated\n")


def test_covering_export_deepest_and_nfs4_pseudo_root():
    exports = merge_exports(parse_exports("/srv/nfs4 *(ro,fsid=0)\n/srv/nfs4/vol0 hv1(rw)\n/srv 10.0.0.0/8(ro)\n"))
    exp, real = covering_export(exports, "/srv/nfs4/vol0/vm1.qcow2", "3")
    assert exp.path == "/srv/nfs4/vol0" and real == "/srv/nfs4/vol0/vm1.qcow2"
    exp, real = covering_export(exports, "/vol0/vm1.qcow2", "4.2")        # v4 path below the fsid=0 root
    assert exp.path == "/srv/nfs4/vol0" and real == "/srv/nfs4/vol0/vm1.qcow2"
    assert covering_export(exports, "/other/x", "3") == (None, None)
