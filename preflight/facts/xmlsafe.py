"""One safe way to parse libvirt XML: no entity expansion, no DTD, no network, no huge trees.

XML reaches us from hosts we do not control (a domain's XML can be edited by anyone with
libvirt write access), so it is parsed as hostile input. libvirt never emits a DOCTYPE; a
document that carries one is refused outright instead of being half-trusted.
"""

from __future__ import annotations

import re

from lxml import etree


class UnsafeXMLError(ValueError):
    """The document is not plain libvirt XML (malformed, or carries a DOCTYPE/entities)."""


# Checked on the raw bytes BEFORE libxml2 sees them: whatever the lxml version's defaults
# (lxml < 5 resolves external file entities), a DTD never reaches the parser.
_DTD_MARK = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)|<!\[\s*(?:INCLUDE|IGNORE)", re.I)


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers are not thread-safe and facts may be parsed in threads.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_comments=True, remove_pis=True,
                           dtd_validation=False)


def parse_xml(text: str, what: str = "XML") -> etree._Element:
    """Parse `text` and return its root element, or raise UnsafeXMLError saying why."""
    if text is None or not str(text).strip():
        raise UnsafeXMLError(f"{what} is empty")
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if _DTD_MARK.search(data):
        raise UnsafeXMLError(f"{what} carries a DOCTYPE/DTD, which libvirt never emits; refused")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXMLError(f"{what} is not well-formed XML: {exc}") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise UnsafeXMLError(f"{what} carries a DOCTYPE/DTD, which libvirt never emits; refused")
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise UnsafeXMLError(f"{what} contains an entity reference (&{node.name};); refused")
    return root


def parse_xml_or_none(text, what: str = "XML"):
    """parse_xml, or None when the document is refused (callers that skip what they cannot read)."""
    try:
        return parse_xml(text, what)
    except UnsafeXMLError:
        return None


def copy_element(elem) -> etree._Element:
    """A detached deep copy of an element of an already parsed (so already checked) tree."""
    from copy import deepcopy
    clone = deepcopy(elem)
    clone.tail = None
    return clone


def text_of(elem, path: str):
    """Stripped text of the first element at `path` below `elem`, or None."""
    if elem is None:
        return None
    found = elem.find(path)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return value or None
