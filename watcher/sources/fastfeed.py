"""A fast path for well-formed RSS 2.0 and Atom 1.0 feeds, read with lxml (issue #8).

feedparser costs ~0.35 ms an item and 6.5 MB of memory in each parse worker. This
module builds exactly the Items that the feedparser path of watcher.sources.feed
builds, or returns None, meaning "not sure: let feedparser do it". It declines
(returns None) rather than guess whenever a body leaves feedparser's well-trodden
road: an encoding that is not plainly UTF-8, a DOCTYPE, broken XML, RSS 0.9x/1.0,
Atom 0.3, xml:base, XHTML or base64 content, an item element it has no rule for,
or a date that neither of feedparser's two main date readers accepts.

What it reproduces is feedparser 6.0's strict (SAX) parser, read from its source
(feedparser/mixin.py, namespaces/_base.py, encodings.py, datetimes/, urls.py):
first non-empty title wins, `<guid>` doubles as the link, links and permalink GUIDs
are joined to the feed's URL, each text value goes through feedparser's
UTF-8-read-as-Latin-1 repair and its cp1252 mapping, and dates are read by ports
of its W3C-DTF and RFC 822 readers. tests/test_fastfeed.py holds the fast path to
feedparser's result over every feed the project has, bench feeds and tricky cases.
The ported code is feedparser's (BSD-2-Clause; Kurt McKee, Mark Pilgrim).
"""

from __future__ import annotations

import calendar
import codecs
import contextlib
import datetime as dt
import io
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree  # type: ignore[import-untyped,unused-ignore]

from watcher.models import FetchResult, Item, Source
from watcher.sources.base import parse_date
from watcher.text.normalise import html_to_text


class _Decline(Exception):
    """The body needs feedparser; raised deep inside, caught once in parse_fast."""


def parse_fast(source: Source, result: FetchResult, tz: str = "UTC") -> list[Item] | None:
    """The Items feedparser's path would build from this body, or None when unsure.

    The caller has already refused XML entity declarations (feed._refuse_entities).
    """
    location = result.final_url or source.url
    try:
        return _parse(source.name, result.body or b"", result.content_type, location, tz)
    except _Decline:
        return None


def _parse(name: str, body: bytes, content_type: str | None, location: str, tz: str) -> list[Item]:
    if not location or not _reads_as_utf8(body, content_type):
        raise _Decline
    declarations = _declarations(body)
    _check_prefixes(declarations)
    # Streamed (issue 17): each entry is read into its Item as soon as the parser has
    # it, then dropped from the tree, so a 50,000-item feed is never held as a whole
    # lxml tree (~8 bytes of tree per byte of feed) beside its Items.
    items: list[Item] = []
    failure: Exception | None = None  # raised only if the whole body parses
    bases: dict[int, str] = {}
    previous: etree._Element | None = None
    context = etree.iterparse(io.BytesIO(body), events=("end",), tag=_ENTRY_TAGS, **_OPTIONS)
    try:
        for _, element in context:
            parent = element.getparent()
            if not _in_place(element, parent):
                continue  # left in the tree, where the checks below decline it
            if failure is None:
                try:
                    depth = 4 if element.tag == "item" else 3  # rss > channel > item > child
                    if depth not in bases:
                        bases[depth] = _base_at(location, depth)
                    base = bases[depth]
                    items.append(_item(name, _read_entry(element, base, declarations), tz))
                except Exception as error:  # _Decline too: raised after the checks below
                    failure = error
            element.clear(keep_tail=True)
            if previous is not None:
                # Ended before this one: safe to drop mid-parse. (Its own parent: two
                # channels, which decline below, hold one item each.)
                holder = previous.getparent()
                if holder is not None:
                    holder.remove(previous)
            previous = element
    except (etree.XMLSyntaxError, etree.ParserError) as error:
        raise _Decline from error
    root = context.root
    _check_document(root)
    _refuse_base(root)
    if root.tag == "rss":
        left = _rss_items(root)
    elif root.tag == _ATOM_FEED:
        left = _atom_entries(root)
    else:
        raise _Decline  # RDF (RSS 0.90/1.0), Atom 0.3, or not a feed at all
    if any(entry is not previous for entry in left):
        raise _Decline  # an entry the stream did not read: never expected, never guessed
    # Only a document that passed every check above reports an entry's own error, as
    # when the whole tree was parsed and checked before any entry was read.
    if failure is not None:
        raise failure
    return items


def _in_place(element: etree._Element, parent: etree._Element | None) -> bool:
    """Whether `element` is an entry the feed's structure reads: an RSS `<item>` in a
    `<channel>` of an `<rss>` root, or an Atom `<entry>` in a `<feed>` root."""
    if parent is None:
        return False
    if element.tag == "item":
        root = parent.getparent()
        return (
            parent.tag == "channel"
            and root is not None
            and root.tag == "rss"
            and root.getparent() is None
        )
    return parent.tag == _ATOM_FEED and parent.getparent() is None


# --- Encoding: accept only bodies that feedparser, too, decodes as UTF-8 ------------------

# feedparser.encodings.RE_XML_PI_ENCODING, byte for byte (`.*` is greedy on the first line).
_XML_PI_ENCODING = re.compile(rb"^<\?.*encoding=['\"](.*?)['\"].*\?>")
_APPLICATION_XML = (
    "application/xml",
    "application/xml-dtd",
    "application/xml-external-parsed-entity",
)
_TEXT_XML = ("text/xml", "text/xml-external-parsed-entity")
_UTF16_NAMES = (
    "u16", "utf-16", "utf16", "utf_16", "u32", "utf-32", "utf32", "utf_32",
    "iso-10646-ucs-2", "iso-10646-ucs-4", "csucs4", "csunicode", "ucs-2", "ucs-4",
)  # fmt: skip
# Codecs that read an all-ASCII body exactly as UTF-8 does.
_ASCII_SUPERSETS = ("utf-8", "ascii", "iso8859-1", "cp1252")


def _codec(label: str) -> str | None:
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _media_type(content_type: str) -> tuple[str, str]:
    """feedparser.encodings.parse_content_type: (MIME type, charset)."""
    chunks = content_type.split(";")
    charset = ""
    for chunk in chunks[1:]:
        key, _, value = chunk.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'")
    return chunks[0].strip(), charset


def _reads_as_utf8(body: bytes, content_type: str | None) -> bool:
    """True when feedparser's RFC 3023 cascade (encodings.convert_to_utf8) reads the body
    exactly as UTF-8 would, so lxml's UTF-8 reading gives the same characters.

    A charset other than UTF-8 (including the single-byte labels that feed._content_type
    removes) declines; so does any BOM but UTF-8's, and a body that only chardet could
    label. Bytes that are not UTF-8 are left to lxml: forced to read UTF-8, libxml2
    refuses any invalid sequence, in text, attributes, comments or CDATA alike.
    """
    data = body.removeprefix(codecs.BOM_UTF8)
    bom = "utf-8" if len(data) != len(body) else ""
    found = _XML_PI_ENCODING.match(data)
    declared = found.group(1).decode("utf-8", "replace").lower() if found else ""
    if bom and declared in _UTF16_NAMES:
        declared = bom
    if declared and _codec(declared) not in ("utf-8", "ascii"):
        return False
    mime, charset = _media_type(content_type or "")
    if charset and _codec(charset) != "utf-8":
        return False
    if mime in _APPLICATION_XML or (mime.startswith("application/") and mime.endswith("+xml")):
        first = charset or declared or "utf-8"
    elif mime in _TEXT_XML or mime.startswith("text/"):
        first = charset or "us-ascii"
    elif not content_type:
        first = declared or "iso-8859-1"  # no Content-Type: feedparser assumes Latin-1
    else:
        first = declared or "utf-8"
    ascii_only = data.isascii()
    for label in (first, declared, bom):  # then chardet, which we do not imitate
        codec = _codec(label) if label else None
        if codec == "utf-8" or (ascii_only and codec in _ASCII_SUPERSETS):
            return True
        if codec is None or codec == "ascii":
            continue  # unknown label, or ASCII that fails on this body: feedparser tries on
        return False
    return False


# --- The document -------------------------------------------------------------------------

_ATOM = "http://www.w3.org/2005/Atom"
_ATOM_FEED = f"{{{_ATOM}}}feed"
_ATOM_ENTRY = f"{{{_ATOM}}}entry"
_ENTRY_TAGS = ("item", _ATOM_ENTRY)
_XML_NS = "http://www.w3.org/XML/1998/namespace"


# The parser's options. No DTD is loaded and no entity resolved, and nothing leaves the
# machine; a too-deep or too-large tree is a syntax error (huge_tree off), left to feedparser.
_OPTIONS = {
    "encoding": "utf-8",  # _reads_as_utf8 established that feedparser decodes it so too
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,  # SAX reports neither; text around them joins up as here
    "remove_pis": True,
    "collect_ids": False,
}


def _check_document(root: etree._Element) -> None:
    """Decline a DOCTYPE and XML 1.1 (the parse itself declined broken XML)."""
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.xml_version != "1.0":
        raise _Decline  # feedparser rewrites the declaration to 1.0 and strips DOCTYPEs


def _local(tag: str) -> str:
    return tag.rpartition("}")[2].lower()


def _refuse_base(element: etree._Element) -> None:
    """Decline an xml:base (or a bare `base`, which feedparser also reads) on `element`."""
    for key in element.attrib:
        if _local(key) == "base":
            raise _Decline


def _refuse_entries_in(element: etree._Element) -> None:
    """feedparser starts an entry at any element named item or entry, at any depth."""
    for node in element.iter():
        if not isinstance(node.tag, str) or _local(node.tag) in ("item", "entry"):
            raise _Decline


def _rss_items(root: etree._Element) -> list[etree._Element]:
    """The items of an RSS 2.0 document: `<item>` children of its one `<channel>`."""
    versions = [value for key, value in root.items() if key.lower() == "version"]
    if len(versions) != 1 or not versions[0].startswith("2."):
        raise _Decline  # RSS 0.9x, or no version: feedparser's other dialects
    channels = [child for child in root if child.tag == "channel"]
    if len(channels) != 1:
        raise _Decline
    channel = channels[0]
    _refuse_base(channel)
    for child in root:
        if child is not channel:
            _refuse_entries_in(child)
    items = []
    for child in channel:
        if child.tag == "item":
            items.append(child)
        else:
            _refuse_entries_in(child)
    return items


def _atom_entries(root: etree._Element) -> list[etree._Element]:
    """The `<entry>` children of an Atom 1.0 `<feed>`."""
    entries = []
    for child in root:
        if child.tag == _ATOM_ENTRY:
            entries.append(child)
        else:
            _refuse_entries_in(child)
    return entries


# --- Namespaces: feedparser names an element by its namespace's usual prefix ----------------

# feedparser's namespace table (mixin._FeedParserMixin.namespaces), keys lowercased as
# feedparser matches them: "" is the RSS/Atom core, whatever prefix a document uses.
_PREFIXES = {
    "": "",
    "http://backend.userland.com/rss": "",
    "http://blogs.law.harvard.edu/tech/rss": "",
    "http://purl.org/rss/1.0/": "",
    "http://my.netscape.com/rdf/simple/0.9/": "",
    "http://example.com/newformat#": "",
    "http://example.com/necho": "",
    "http://purl.org/echo/": "",
    "uri/of/echo/namespace#": "",
    "http://purl.org/pie/": "",
    "http://purl.org/atom/ns#": "",
    "http://www.w3.org/2005/atom": "",
    "http://purl.org/rss/1.0/modules/rss091#": "",
    "http://webns.net/mvcb/": "admin",
    "http://purl.org/rss/1.0/modules/aggregation/": "ag",
    "http://purl.org/rss/1.0/modules/annotate/": "annotate",
    "http://media.tangent.org/rss/1.0/": "audio",
    "http://backend.userland.com/blogchannelmodule": "blogChannel",
    "http://creativecommons.org/ns#license": "cc",
    "http://web.resource.org/cc/": "cc",
    "http://cyber.law.harvard.edu/rss/creativecommonsrssmodule.html": "creativeCommons",
    "http://backend.userland.com/creativecommonsrssmodule": "creativeCommons",
    "http://purl.org/rss/1.0/modules/company": "co",
    "http://purl.org/rss/1.0/modules/content/": "content",
    "http://my.theinfo.org/changed/1.0/rss/": "cp",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://purl.org/dc/terms/": "dcterms",
    "http://purl.org/rss/1.0/modules/email/": "email",
    "http://purl.org/rss/1.0/modules/event/": "ev",
    "http://rssnamespace.org/feedburner/ext/1.0": "feedburner",
    "http://freshmeat.net/rss/fm/": "fm",
    "http://xmlns.com/foaf/0.1/": "foaf",
    "http://www.w3.org/2003/01/geo/wgs84_pos#": "geo",
    "http://www.georss.org/georss": "georss",
    "http://www.opengis.net/gml": "gml",
    "http://postneo.com/icbm/": "icbm",
    "http://purl.org/rss/1.0/modules/image/": "image",
    "http://www.itunes.com/dtds/podcast-1.0.dtd": "itunes",
    "http://example.com/dtds/podcast-1.0.dtd": "itunes",
    "http://purl.org/rss/1.0/modules/link/": "l",
    "http://search.yahoo.com/mrss": "media",
    "http://search.yahoo.com/mrss/": "media",
    "http://madskills.com/public/xml/rss/module/pingback/": "pingback",
    "http://prismstandard.org/namespaces/1.2/basic/": "prism",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "rdf",
    "http://www.w3.org/2000/01/rdf-schema#": "rdfs",
    "http://purl.org/rss/1.0/modules/reference/": "ref",
    "http://purl.org/rss/1.0/modules/richequiv/": "reqv",
    "http://purl.org/rss/1.0/modules/search/": "search",
    "http://purl.org/rss/1.0/modules/slash/": "slash",
    "http://schemas.xmlsoap.org/soap/envelope/": "soap",
    "http://purl.org/rss/1.0/modules/servicestatus/": "ss",
    "http://hacks.benhammersley.com/rss/streaming/": "str",
    "http://purl.org/rss/1.0/modules/subscription/": "sub",
    "http://purl.org/rss/1.0/modules/syndication/": "sy",
    "http://schemas.pocketsoap.com/rss/mydescmodule/": "szf",
    "http://purl.org/rss/1.0/modules/taxonomy/": "taxo",
    "http://purl.org/rss/1.0/modules/threading/": "thr",
    "http://purl.org/rss/1.0/modules/textinput/": "ti",
    "http://madskills.com/public/xml/rss/module/trackback/": "trackback",
    "http://wellformedweb.org/commentapi/": "wfw",
    "http://purl.org/rss/1.0/modules/wiki/": "wiki",
    "http://www.w3.org/1999/xhtml": "xhtml",
    "http://www.w3.org/1999/xlink": "xlink",
    "http://www.w3.org/xml/1998/namespace": "xml",
    "http://podlove.org/simple-chapters": "psc",
}
_USERLAND = "backend.userland.com/rss"  # any such namespace is the core, for feedparser
# Starts with the literal: a look-behind first would make re try every byte (~3 ms a feed).
_DECLARATION = re.compile(rb"xmlns(?::([A-Za-z_][\w.-]*))?\s*=\s*([\"'])(.*?)\2", re.DOTALL)
_NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")
_UNCLEAR_URI = re.compile(rb"[&\s]")

Declarations = list[tuple[str, str]]  # (prefix, or "" for a default namespace; URI)


def _usual_prefix(uri: str) -> str | None:
    """feedparser's prefix for a namespace; None for one it does not know."""
    lowered = uri.lower()
    return "" if _USERLAND in lowered else _PREFIXES.get(lowered)


def _declarations(body: bytes) -> Declarations:
    """Every namespace declaration in the body, in document order, read as feedparser
    learns them (SAX startPrefixMapping). A URI with a character reference or white
    space, which the raw text would misread, declines."""
    found = []
    for match in _DECLARATION.finditer(body):
        if match.start() and body[match.start() - 1] in _NAME_BYTES:
            continue  # part of a longer name ("data-xmlns"), not a declaration
        if _UNCLEAR_URI.search(match.group(3)):
            raise _Decline
        prefix = (match.group(1) or b"").decode("ascii")
        found.append((prefix, match.group(3).decode("utf-8", "replace")))
    return found


def _check_prefixes(declarations: Declarations) -> None:
    """Decline a document that binds a prefix we read (`dc`, `content`…) to another
    namespace feedparser knows.

    feedparser maps a document's prefix to the usual one and then looks the usual
    prefix up in that same map, so `xmlns:content="<the dc namespace>"` would turn
    the real content:encoded into dc:encoded for it.
    """
    for prefix, uri in declarations:
        if prefix in _READ_PREFIXES:
            usual = _usual_prefix(uri)
            if usual is not None and usual != prefix:
                raise _Decline


def _name(tag: str) -> str | None:
    """feedparser's handler name for an element (`title`, `content_encoded`, `dc_date`),
    or None when feedparser does not know its namespace."""
    if tag[0] != "{":
        return tag.lower()
    uri, _, local = tag[1:].partition("}")
    prefix = _usual_prefix(uri)
    if prefix is None:
        return None
    return f"{prefix.lower()}_{local.lower()}" if prefix else local.lower()


# --- Base URI: feedparser joins links and permalink GUIDs to the feed's URL -----------------

# feedparser.urls, ported as is.
_ACCEPTABLE_URI_SCHEMES = (
    "file", "ftp", "gopher", "h323", "hdl", "http", "https", "imap", "magnet",
    "mailto", "mms", "news", "nntp", "prospero", "rsync", "rtsp", "rtspu",
    "sftp", "shttp", "sip", "sips", "snews", "svn", "svn+ssh", "telnet",
    "wais", "aim", "callto", "cvs", "facetime", "feed", "git", "gtalk", "irc", "ircs",
    "irc6", "itms", "mms", "msnim", "skype", "ssh", "smb", "svn", "ymsg",
)  # fmt: skip
_URI_FIXER = re.compile("^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")


def _urljoin(base: str, uri: str) -> str:
    """feedparser.urls._urljoin: a URL urllib cannot read becomes ''."""
    uri = _URI_FIXER.sub(r"\1\3", uri)
    try:
        return urllib.parse.urljoin(base, uri)
    except ValueError:
        return ""


def _safe_absolute(base: str, rel: str) -> str:
    """feedparser.urls.make_safe_absolute_uri for a non-empty base and rel."""
    uri = _urljoin(base, rel)
    if uri.strip().split(":", 1)[0] not in _ACCEPTABLE_URI_SCHEMES:
        return ""
    return uri


def _base_at(location: str, depth: int) -> str:
    """The base URI feedparser holds `depth` elements deep: each start tag re-joins it."""
    base = location
    for _ in range(depth):
        base = _safe_absolute(base, base) or base
    return base


# --- Text values: what feedparser's pop() does to every element's text ----------------------

# feedparser.html._cp1252: C1 controls read as the Windows-1252 characters they stand for.
_CP1252 = {
    128: "\u20ac", 130: "\u201a", 131: "\u0192", 132: "\u201e", 133: "\u2026",
    134: "\u2020", 135: "\u2021", 136: "\u02c6", 137: "\u2030", 138: "\u0160",
    139: "\u2039", 140: "\u0152", 142: "\u017d", 145: "\u2018", 146: "\u2019",
    147: "\u201c", 148: "\u201d", 149: "\u2022", 150: "\u2013", 151: "\u2014",
    152: "\u02dc", 153: "\u2122", 154: "\u0161", 155: "\u203a", 156: "\u0153",
    158: "\u017e", 159: "\u0178",
}  # fmt: skip
_C1 = re.compile("[\x80-\x9f]")
_QUERY_ENTITY = re.compile("&([A-Za-z0-9_]+);")


def _repair(text: str) -> str:
    """feedparser's two repairs: UTF-8 that was read as Latin-1 is read again ("CafÃ©" →
    "Café", only when every character allows it), then C1 controls become cp1252."""
    if text.isascii():
        return text
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("iso-8859-1").decode("utf-8")
    if _C1.search(text):
        text = text.translate(_CP1252)
    return text


def _text(element: etree._Element) -> str:
    """An element's text, stripped; an element with children is not one we read."""
    if len(element):
        raise _Decline  # markup inside a text element: feedparser rewrites it as XHTML
    return (element.text or "").strip()


# Attribute names that change what feedparser does with an element: a namespaced
# attribute reaches feedparser under its bare local name too (expat's qname).
_MEANINGFUL = frozenset(
    ("base", "type", "rel", "href", "url", "uri", "ispermalink", "mode", "src", "lastmod",
     "about", "version", "term", "scheme", "domain", "label")
)  # fmt: skip


def _attributes(element: etree._Element, allowed: frozenset[str]) -> dict[str, str]:
    """feedparser's view of the attributes (names lowercased, rel/type values too); declines
    any it would act on beyond `allowed`."""
    seen: dict[str, str] = {}
    for key, value in element.items():
        if key[0] == "{":
            uri, _, local = key[1:].partition("}")
            if not (uri == _XML_NS and local == "lang") and local.lower() in _MEANINGFUL:
                raise _Decline
            continue
        name = key.lower()
        if name not in allowed or name in seen:
            raise _Decline
        seen[name] = value.lower() if name in ("rel", "type") else value
    return seen


def _content_type(kind: str) -> str:
    """feedparser's map_content_type."""
    kind = kind.lower()
    return {"text": "text/plain", "plain": "text/plain", "html": "text/html"}.get(
        kind, "application/xhtml+xml" if kind == "xhtml" else kind
    )


# --- Dates: feedparser's W3C-DTF and RFC 822 readers, the first two it tries ----------------

_ZONES = {
    "ut": 0, "gmt": 0, "z": 0, "adt": -3, "ast": -4, "at": -4, "edt": -4, "est": -5,
    "et": -5, "cdt": -5, "cst": -6, "ct": -6, "mdt": -6, "mst": -7, "mt": -7, "pdt": -7,
    "pst": -8, "pt": -8, "a": -1, "n": 1, "m": -12, "y": 12,
}  # fmt: skip
_RFC822_ZONES = {**_ZONES, "met": 1, "mest": 2}
_DAY_NAMES = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip


def _utc_tuple(stamp: dt.datetime, hours: int, minutes: int) -> time.struct_time | None:
    try:
        return (stamp - dt.timedelta(0, 0, 0, 0, minutes, hours)).utctimetuple()
    except (OverflowError, ValueError):
        return None


def _w3dtf(value: str) -> time.struct_time | None:
    """feedparser.datetimes.w3dtf._parse_date_w3dtf, ported line for line."""
    if not value.strip():
        return None
    parts = value.lower().split("t")
    if len(parts) == 1:
        parts = parts[0].split()
        if len(parts) == 1:
            parts.append("00:00:00z")
    elif len(parts) > 2:
        return None
    date = parts[0].split("-", 2)
    if not date or len(date[0]) != 4:
        return None
    date.extend(["1"] * (3 - len(date)))
    try:
        year, month, day = (int(i) for i in date)
    except ValueError:
        return None
    if parts[1].endswith("z"):
        parts[1] = parts[1][:-1]
        parts.append("z")
    loc = parts[1].find("-") + 1 or parts[1].find("+") + 1 or len(parts[1]) + 1
    loc = loc - 1
    parts.append(parts[1][loc:])
    parts[1] = parts[1][:loc]
    clock = parts[1].split(":", 2)
    clock.extend(["0"] * (3 - len(clock)))
    if parts[2][:1] in ("-", "+"):
        try:
            hours, minutes = int(parts[2][1:3]), int(parts[2][4:])
        except ValueError:
            return None
        if parts[2].startswith("-"):
            hours, minutes = -hours, -minutes
    else:
        hours, minutes = _ZONES.get(parts[2], 0), 0
    try:
        hour, minute, second = (int(float(i)) for i in clock)
    except ValueError:
        return None
    try:
        stamp = dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    return _utc_tuple(stamp, hours, minutes)


def _rfc822(value: str) -> time.struct_time | None:
    """feedparser.datetimes.rfc822._parse_date_rfc822, ported line for line."""
    parts = value.lower().split()
    if len(parts) < 5:
        parts.extend(("00:00:00", "0000"))
    if parts[0][:3] in _DAY_NAMES:
        parts = parts[1:]
    if len(parts) < 5:
        return None
    month = _MONTHS.get(parts[1][:3])
    try:
        day = int(parts[0])
    except ValueError:
        if _MONTHS.get(parts[0][:3]):
            try:
                day = int(parts[1])
            except ValueError:
                return None
            month = _MONTHS.get(parts[0][:3])
        else:
            return None
    if not month:
        return None
    try:
        year = int(parts[2])
    except ValueError:
        return None
    if len(parts[2]) <= 2:
        year += (1900, 2000)[year < 90]
    clock = parts[3].split(":")
    clock.extend(("0",) * (3 - len(clock)))
    try:
        hour, minute, second = (int(i) for i in clock)
    except ValueError:
        return None
    zone = parts[4]
    if zone.startswith("etc/"):
        zone = zone[4:]
    if zone.startswith("gmt"):
        zone = "".join(zone[3:].split(":")) or "gmt"
    if zone and zone[0] in ("-", "+"):
        try:
            hours = int(zone[1:3])
            minutes = int(zone[4:]) if ":" in zone else int(zone[3:])
        except ValueError:
            return None
        if zone.startswith("-"):
            hours, minutes = -hours, -minutes
    else:
        hours, minutes = _RFC822_ZONES.get(zone, 0), 0
    try:
        stamp = dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    return _utc_tuple(stamp, hours, minutes)


_Date = tuple[str, time.struct_time | None]  # the text, and feedparser's reading of it
_DATE_READERS: tuple[Callable[[str], time.struct_time | None], ...] = (_w3dtf, _rfc822)


def _feed_date(value: str) -> time.struct_time | None:
    """feedparser's _parse_date, as far as its first two readers go.

    Its seven others (ISO 8601 variants, asctime, Korean, Greek…) are not ported: a
    date neither of these reads declines the whole feed, so feedparser reads it.
    """
    if not value:
        return None
    for reader in _DATE_READERS:
        try:
            parsed = reader(value)
        except (KeyError, OverflowError, ValueError, AttributeError):
            continue  # as feedparser's _parse_date does
        except (IndexError, TypeError) as error:  # feedparser would raise; let it
            raise _Decline from error
        if parsed:
            return parsed
    raise _Decline


def _moment(when: _Date | None, tz: str) -> datetime | None:
    """feed._when for one date: feedparser's parsed tuple, else our lenient reading."""
    if when is None:
        return None
    raw, parsed = when
    if parsed:
        try:
            return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
        except (OverflowError, ValueError, OSError):
            return None
    return parse_date(raw, tz)


# --- One entry ----------------------------------------------------------------------------


@dataclass
class _Entry:
    """What feedparser's entry dict would hold for the fields an Item reads."""

    title: str | None = None
    title_settled: bool = False  # a non-empty title was seen: later ones are ignored
    link: str | None = None  # None: no key at all ("" is a key, and stops <guid> filling it)
    guid: str | None = None
    summary: str | None = None
    summaries: int = 0
    content: list[str] = field(default_factory=list)
    published: _Date | None = None
    updated: _Date | None = None


_TEXT_ATTRS = frozenset(("type",))
_LINK_ATTRS = frozenset(("rel", "type", "href", "hreflang", "title", "length"))
_GUID_ATTRS = frozenset(("ispermalink",))
_NO_ATTRS: frozenset[str] = frozenset()
_HTML_TYPES = ("application/xhtml+xml", "text/html")
_PERSON_PARTS = ("name", "email", "uri")

Reader = Callable[[_Entry, etree._Element, str], None]


def _read_entry(element: etree._Element, base: str, declarations: Declarations) -> _Entry:
    """Walk an item's children in document order, as feedparser's handlers would."""
    _attributes(element, _NO_ATTRS)
    entry = _Entry()
    for child in element:
        if not isinstance(child.tag, str):
            raise _Decline
        name = _name(child.tag)
        if name is None:
            _check_foreign(child, declarations)
            continue
        reader = _READERS.get(name)
        if reader is None:
            raise _Decline  # an element we have no rule for may set any field
        reader(entry, child, base)
    return entry


def _read_title(entry: _Entry, element: etree._Element, base: str) -> None:
    # feedparser keeps the first non-empty title (mixin.pop's title_depth check).
    _text_type(element, "text/plain")
    value = _repair(_text(element))
    if not entry.title_settled:
        entry.title = value
        entry.title_settled = bool(value)


def _read_link(entry: _Entry, element: etree._Element, base: str) -> None:
    attrs = _attributes(element, _LINK_ATTRS)
    if "href" in attrs:  # Atom style: only an HTML alternate is the entry's link
        _text(element)  # its text is ignored, but markup inside is not ours to read
        rel = attrs.setdefault("rel", "alternate")
        kind = attrs.get("type", "application/atom+xml" if rel == "self" else "text/html")
        href = _urljoin(base, attrs["href"])
        if rel == "alternate" and _content_type(kind) in _HTML_TYPES:
            entry.link = href
        return
    value = _text(element)  # RSS style: the text, joined to the base, then query-repaired
    if value:
        value = _urljoin(base, value)
    value = _repair(value).replace("&amp;", "&")
    entry.link = _QUERY_ENTITY.sub(r"&\g<1>", value)


def _read_guid(entry: _Entry, element: etree._Element, base: str) -> None:
    # A permalink GUID (isPermaLink absent or exactly "true"; every Atom <id>) is joined
    # to the base, and becomes the link when no link came before it.
    permalink = _attributes(element, _GUID_ATTRS).get("ispermalink", "true") == "true"
    value = _text(element)
    if value and permalink:
        value = _urljoin(base, value)
    value = _repair(value)
    entry.guid = value
    if permalink and entry.link is None:
        entry.link = value


def _read_summary(entry: _Entry, element: etree._Element, base: str) -> None:
    # A second description/summary turns into content in feedparser: not followed here.
    entry.summaries += 1
    if entry.summaries > 1:
        raise _Decline
    _text_type(element, "text/plain")
    entry.summary = _repair(_text(element))


def _read_content(entry: _Entry, element: etree._Element, base: str) -> None:
    _text_type(element, "text/plain")
    # feedparser also copies the first block to an empty summary (_end_content), but
    # parse_feed then drops that summary as contained in the content: not copied here.
    entry.content.append(_repair(_text(element)))


def _read_published(entry: _Entry, element: etree._Element, base: str) -> None:
    _attributes(element, _NO_ATTRS)
    value = _repair(_text(element))
    entry.published = (value, _feed_date(value))


def _read_updated(entry: _Entry, element: etree._Element, base: str) -> None:
    _attributes(element, _NO_ATTRS)
    value = _repair(_text(element))
    entry.updated = (value, _feed_date(value))


def _read_extra(entry: _Entry, element: etree._Element, base: str) -> None:
    """Elements that set only fields an Item does not read (categories, authors…)."""
    _refuse_base(element)
    if len(element):
        raise _Decline


def _read_person(entry: _Entry, element: etree._Element, base: str) -> None:
    """An author or contributor: RSS text, or Atom name/email/uri children."""
    _refuse_base(element)
    for part in element:
        if not isinstance(part.tag, str) or _name(part.tag) not in _PERSON_PARTS:
            raise _Decline
        _read_extra(entry, part, base)


# Every element feedparser 6.0 has a handler for (`_start_…`/`_end_…` methods of its
# StrictFeedParser, lowercased); tests/test_fastfeed.py checks this against feedparser.
_FEEDPARSER_ELEMENTS = frozenset((
    "abstract", "author", "body", "category", "cc_license", "channel", "cloud", "content",
    "content_encoded", "contributor", "copyright", "created", "creativecommons_license",
    "dc_author", "dc_contributor", "dc_creator", "dc_date", "dc_description", "dc_language",
    "dc_publisher", "dc_rights", "dc_subject", "dc_title", "dcterms_created", "dcterms_issued",
    "dcterms_modified", "dcterms_valid", "description", "email", "enclosure", "entry",
    "expirationdate", "feed", "feedburner_browserfriendly", "fullitem", "generator", "geom",
    "georss_box", "georss_line", "georss_point", "georss_polygon", "georss_where", "georssgeom",
    "gml_exterior", "gml_linearring", "gml_linestring", "gml_point", "gml_polygon", "gml_pos",
    "gml_poslist", "guid", "height", "homepage", "id", "image", "info", "issued", "item",
    "itunes_author", "itunes_block", "itunes_category", "itunes_email", "itunes_explicit",
    "itunes_image", "itunes_keywords", "itunes_link", "itunes_name", "itunes_owner",
    "itunes_subtitle", "itunes_summary", "keywords", "language", "lastbuilddate", "link",
    "managingeditor", "media_category", "media_content", "media_credit", "media_description",
    "media_group", "media_keywords", "media_license", "media_player", "media_rating",
    "media_restriction", "media_thumbnail", "media_title", "modified", "name", "newlocation",
    "psc_chapter", "psc_chapters", "pubdate", "published", "rights", "rss", "source", "subtitle",
    "summary", "tagline", "tags", "textinput", "title", "updated", "uri", "url", "webmaster",
    "where", "width", "xhtml_body",
))  # fmt: skip
# Entry keys a stored element must not land on: those an Item reads, the names
# FeedParserDict maps onto them (its keymap), and the ones feedparser builds itself.
_ENTRY_KEYS = frozenset((
    "id", "guid", "link", "links", "title", "summary", "description", "content", "published",
    "issued", "updated", "modified", "date", "category", "tags", "enclosures", "license",
    "guidislink", "url", "href", "copyright", "tagline", "channel", "items",
))  # fmt: skip
_DERIVED = ("_detail", "_parsed")  # title_detail, published_parsed…


def _check_foreign(element: etree._Element, declarations: Declarations) -> None:
    """Accept an element in a namespace feedparser does not know (WordPress.com's
    post-id, Blogger's thr:total) only when it cannot touch an Item's fields.

    feedparser names such an element by a prefix the document declared for its
    namespace, else by its bare name; with no handler for that name it just stores the
    text (or the attributes) under it. Every name it might use must be free.
    """
    uri, _, local = element.tag[1:].partition("}")
    local = local.lower()
    names = {local}
    for prefix, declared in declarations:
        if prefix and declared == uri:
            names.add(f"{prefix.lower()}_{local}")
            for other, bound in declarations:  # a prefix also bound to a known namespace
                usual = _usual_prefix(bound) if other == prefix.lower() else None
                if usual is not None:
                    names.add(f"{usual}_{local}" if usual else local)
    for name in names:
        if name in _FEEDPARSER_ELEMENTS or name in _ENTRY_KEYS or name.endswith(_DERIVED):
            raise _Decline
    _refuse_base(element)
    if len(element):
        raise _Decline


def _text_type(element: etree._Element, default: str) -> None:
    """Decline a type feedparser would treat as XHTML, base64 or anything but text/HTML."""
    kind = _attributes(element, _TEXT_ATTRS).get("type", default)
    if _content_type(kind) not in ("text/plain", "text/html"):
        raise _Decline


_READERS: dict[str, Reader] = {
    "title": _read_title,
    "link": _read_link,
    "guid": _read_guid,
    "id": _read_guid,
    "description": _read_summary,
    "summary": _read_summary,
    "content": _read_content,
    "content_encoded": _read_content,
    "pubdate": _read_published,
    "published": _read_published,
    "dcterms_issued": _read_published,
    "updated": _read_updated,
    "dc_date": _read_updated,
    "dcterms_modified": _read_updated,
    "author": _read_person,
    "contributor": _read_person,
    "dc_creator": _read_extra,
    "dc_subject": _read_extra,
    "category": _read_extra,
    "comments": _read_extra,
    "enclosure": _read_extra,
    "wfw_commentrss": _read_extra,
    "slash_comments": _read_extra,
    "feedburner_origlink": _read_extra,
    "thr_total": _read_extra,
    "media_content": _read_extra,
    "media_thumbnail": _read_extra,
}
# The namespace prefixes in those names, which a document must not rebind.
_READ_PREFIXES = frozenset(name.split("_")[0] for name in _READERS if "_" in name)


def _item(source: str, entry: _Entry, tz: str) -> Item:
    """feed.parse_feed's Item for one entry, step for step."""
    content = "\n\n".join([html_to_text(value) for value in entry.content if value])
    summary = entry.summary or ""
    summary_text = html_to_text(summary) if summary else ""
    if content and summary_text and summary_text in content:
        summary_text = ""  # RSS description is often the content's first lines
    published = _moment(entry.published, tz)
    # feedparser's entry.get("updated_parsed") falls back to the published date.
    updated = published if entry.updated is None else _moment(entry.updated, tz)
    return Item(
        source=source,
        guid=entry.guid or None,
        link=entry.link or None,
        title=html_to_text(entry.title or ""),
        summary=summary_text,
        content=content,
        published=published,
        updated=updated,
    )


__all__ = ["parse_fast"]
