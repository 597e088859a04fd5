"""Who an item is: canonical links and item keys (SPEC §6).

Pure functions: no network, no clock. The same article reached through
`http://www.example.org/a/?utm_source=x#top`, `https://example.org/a` and its AMP
copy must compare equal, or staff get the same story three times.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from watcher.models import Item
from watcher.text.normalise import normalise

# Query parameters that only say how a reader arrived (campaign trackers, share
# widgets, mail tools). Dropped before comparing links. Prefixes end in "_".
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "ref",
        "ref_src",
        "ref_url",
        "referrer",
        "cmpid",
        "cmp",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "rb_clickid",
        "s_cid",
        "vero_conv",
        "vero_id",
        "wickedid",
        "ncid",
        "sr_share",
        "spm",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hmb_", "at_", "itm_")

# AMP renderings of a page: `/amp/` path segments here, `?amp=1` and
# `?outputType=amp` in _is_tracking, the `amp.` host in canonical_url.
_AMP_PATH = re.compile(r"(?:/amp)+/?$|/amp(?=/)", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
# A path that percent-normalising leaves as it is (most paths): no "%", only
# characters `quote` keeps.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=\-._~]*")
_SLASH_RUN = re.compile(r"/{2,}")


def _is_tracking(name: str, value: str) -> bool:
    lowered = name.lower()
    if lowered == "amp" or (lowered == "outputtype" and value.lower() == "amp"):
        return True
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def _normalise_percent(part: str, safe: str) -> str:
    # Decode then re-encode so `%E1%9E%80`, `%e1%9e%80` and the raw Khmer letter
    # all become one spelling of the same path.
    return quote(unquote(part), safe=safe)


def _cleaned(url: str, *, fold_host: bool) -> tuple[str, str, str, str] | None:
    """(scheme, netloc, path, query) of `url` with tracking and AMP forms removed."""
    raw = url.strip()
    parts = urlsplit(raw if "//" in raw else "//" + raw)
    try:
        port_number = parts.port
    except ValueError:
        port_number = None
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        return None
    if fold_host:
        for prefix in ("www.", "amp.", "m."):
            if host.startswith(prefix) and host.count(".") >= 2:
                host = host[len(prefix) :]
    elif host.startswith("amp.") and host.count(".") >= 2:
        host = host[len("amp.") :]
    port = port_number if port_number and port_number != _DEFAULT_PORTS.get(parts.scheme) else None
    netloc = f"{host}:{port}" if port else host
    path = parts.path
    if not _PLAIN_PATH.fullmatch(path):
        path = _normalise_percent(path, safe=_PATH_SAFE)
    path = _AMP_PATH.sub("", path)
    path = _SLASH_RUN.sub("/", path).rstrip("/")
    if not parts.query:
        return parts.scheme.lower(), netloc, path, ""
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k, v)
    )
    return parts.scheme.lower(), netloc, path, urlencode(query, quote_via=quote)


@functools.lru_cache(maxsize=8192)
def canonical_url(url: str) -> str:
    """The form of `url` under which the same article compares equal (SPEC §6).

    Scheme and `www.` ignored, host lower-cased, default port, fragment and
    tracking parameters dropped, remaining parameters sorted, trailing slash,
    AMP forms and percent-encoding folded. The result has no scheme:
    `example.org/news/item?id=3`. Returns the stripped input if it is not a URL.
    Cached: one poll asks for an item's canonical link several times (identity,
    story, recording), and a feed's links are asked again on every poll.
    """
    cleaned = _cleaned(url, fold_host=True)
    if cleaned is None:
        return url.strip()
    _, netloc, path, query = cleaned
    return urlunsplit(("", netloc, path, query, "")).lstrip("/")


def clean_url(url: str) -> str:
    """The link to show staff: the article's own URL without trackers, fragment or AMP.

    Unlike canonical_url it keeps the scheme and the `www.` host, so it still opens.
    """
    cleaned = _cleaned(url, fold_host=False)
    if cleaned is None:
        return url.strip()
    scheme, netloc, path, query = cleaned
    return urlunsplit((scheme or "https", netloc, path or "/", query, ""))


def content_hash(item: Item) -> str:
    """A hash of what matching reads, to skip re-matching an unchanged item."""
    return hashlib.sha256(item.text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def item_key(item: Item) -> str:
    """The item's identity within its source (SPEC §6).

    Its feed guid/id; else its canonical link; else a hash of title and date.
    """
    return _key(item, use_guid=True, use_link=True)


def _key(item: Item, *, use_guid: bool, use_link: bool) -> str:
    if use_guid and item.guid and item.guid.strip():
        return "guid:" + item.guid.strip()
    if use_link and item.link and item.link.strip():
        return "link:" + canonical_url(item.link)
    when = item.when.isoformat() if item.when else ""
    # An entry with no title either (a feed of bare <description>s) is told apart by
    # its text: title and date alone would give every such entry of a date one key.
    title = item.title.strip() or item.text.strip()
    digest = hashlib.sha256(f"{title}\x00{when}".encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return "hash:" + digest


def _link(item: Item) -> str | None:
    return canonical_url(item.link) if item.link and item.link.strip() else None


def key_items(items: Iterable[Item]) -> dict[str, Item]:
    """Each item of one fetch under its key (SPEC §6); the first entry wins a repeated key.

    A guid that one fetch gives to items with different links names none of them
    (CMSs that put the site's address or a category in every <guid>): those items are
    keyed by canonical link instead, so none is lost. Likewise a link that one fetch
    gives to items with different titles (every entry links to the same index page) is
    not an identity: such items are keyed by guid, else by title and date.
    """
    listed = [(item, _link(item)) for item in items]
    links_of_guid: dict[str, set[str | None]] = {}
    titles_of_link: dict[str, set[str]] = {}
    for item, link in listed:
        if item.guid and item.guid.strip():
            links_of_guid.setdefault(item.guid.strip(), set()).add(link)
        if link is not None:
            titles_of_link.setdefault(link, set()).add(item.title)
    # A link names one article when its items' headlines are one headline once
    # normalised (only links with differing raw headlines need normalising).
    one_title = {
        link: len(titles) == 1 or len({normalise(t) for t in titles}) == 1
        for link, titles in titles_of_link.items()
    }
    keyed: dict[str, Item] = {}
    for item, link in listed:
        guid = item.guid.strip() if item.guid else ""
        use_guid = bool(guid) and len(links_of_guid[guid]) == 1
        use_link = link is not None and one_title[link]
        keyed.setdefault(_key(item, use_guid=use_guid, use_link=use_link), item)
    return keyed


class _Stored(Protocol):
    @property
    def id(self) -> int: ...


K = TypeVar("K", bound=_Stored)


def resolve_known(
    keyed: Mapping[str, Item],
    by_key: Mapping[str, K],
    by_link: Mapping[str, Sequence[tuple[K, str]]],
) -> tuple[dict[str, K], list[str]]:
    """Which stored item each fetched item is: by its key, else by canonical link and title.

    `by_key` holds the source's stored items found under the fetched keys, `by_link`
    those found under the fetched canonical links, each with its title. A feed whose
    guids change on every fetch (a hash of the render time) is recognised by link and
    unchanged title; a guid that now comes with another link than the stored item's
    names a different article (a CMS that re-uses guids), so that item is new. No
    stored item is claimed by two fetched items: the second is new, never dropped.

    Returns the resolved items by fetched key, and the keys of new items whose key is
    already taken by another stored item: the caller stores those under a fresh key.
    """
    resolved: dict[str, K] = {}
    claimed: set[int] = set()
    clashes: list[str] = []
    for key, item in keyed.items():
        link = _link(item)
        same_link = list(by_link.get(link, ())) if link is not None else []
        found = by_key.get(key)
        if found is not None and not (
            link is None or key.startswith("hash:") or any(k.id == found.id for k, _ in same_link)
        ):
            found = None  # the guid moved to another article
        if found is None or found.id in claimed:
            title = normalise(item.title)
            found = next(
                (k for k, t in same_link if normalise(t) == title and k.id not in claimed), None
            )
        if found is not None:
            claimed.add(found.id)
            resolved[key] = found
        elif key in by_key:
            clashes.append(key)
    return resolved, clashes


def fresh_key(key: str, item: Item, taken: Callable[[str], bool]) -> str:
    """A key for a new item whose own key a stored item already holds (see resolve_known).

    The guid together with the canonical link (else title and date), numbered if need be:
    the same pair gets the same key on the next fetch.
    """
    link = _link(item)
    base = f"{key}@{link}" if link else f"{key}@{_key(item, use_guid=False, use_link=False)}"
    candidate, n = base, 1
    while taken(candidate):
        n += 1
        candidate = f"{base}#{n}"
    return candidate


def names_one_article(canonical: str, title: str, titles_with_link: Iterable[str]) -> bool:
    """Whether a canonical link identifies one article, so that it may join items to a story.

    Not a bare site address (`gazette.example`), and not a link that its source already
    gave to an item with another headline (an index page every entry links to). Two
    headlines under one link within one source are kept apart: at worst that repeats an
    alert for a feed that also changes guids on every edit, where merging them could
    hide a different article.
    """
    if "/" not in canonical and "?" not in canonical:
        return False
    others = [other for other in titles_with_link if other != title]
    if not others:  # the usual case: normalising equal headlines would only cost time
        return True
    ours = normalise(title)
    return all(normalise(other) == ours for other in others)
