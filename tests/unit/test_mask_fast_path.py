"""preflight.scrub.may_hold_secret (mask_text's fast path, also used by the report masking) skips mask_text only where none of its patterns can match."""

import json
from pathlib import Path

from preflight.scrub import mask_text, may_hold_secret

DEMO = Path(__file__).resolve().parents[2] / "preflight" / "demo" / "demo-facts.json"

SAMPLES = [
    "storage.shared/migration/vm1@hv1->hv2", "vm@hv1", "user:pw@host", "a:b@c", "x@y:z",
    "nfs://admin:s3cret@filer/export", "https://h/p?token=abc", "http://h/?q", "password=hunter2",
    "key = v", "rbd:pool/img:id=admin:key=AQB", "plain text", "user@host", "what?", "a:b", "::@",
    "iscsi://u%40d:p@t/iqn", "cifs user=me%pw", "ssh://root@hv1:22", "scheme://x?y",
]


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_skipped_strings_are_those_mask_text_leaves_alone():
    texts = set(SAMPLES) | set(_strings(json.loads(DEMO.read_text())))
    skipped = [t for t in texts if not may_hold_secret(t)]
    assert any("@" in t for t in skipped)         # the fast path does skip something mask_text would scan
    for t in skipped:
        assert mask_text(t) == t, t


def test_strings_with_a_secret_are_never_skipped():
    for t in ("user:pw@host", "nfs://admin:s3cret@filer/export", "https://h/p?token=abc", "password=hunter2"):
        assert mask_text(t) != t
        assert may_hold_secret(t)
