"""Who an item is: canonical links and item keys (SPEC §6).

Pure functions: no network, no clock. The same article reached through
`http://www.example.org/a/?utm_source=x#top`, `https://example.org/a` and its AMP
copy must compare equal, or staff get the same story three times.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from watcher.models import Item

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
    path = _normalise_percent(parts.path, safe="/:@!$&'()*+,;=-._~")
    path = _AMP_PATH.sub("", path)
    path = re.sub(r"/{2,}", "/", path).rstrip("/")
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k, v)
    )
    return parts.scheme.lower(), netloc, path, urlencode(query, quote_via=quote)


def canonical_url(url: str) -> str:
    """The form of `url` under which the same article compares equal (SPEC §6).

    Scheme and `www.` ignored, host lower-cased, default port, fragment and
    tracking parameters dropped, remaining parameters sorted, trailing slash,
    AMP forms and percent-encoding folded. The result has no scheme:
    `example.org/news/item?id=3`. Returns the stripped input if it is not a URL.
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
    if item.guid and item.guid.strip():
        return "guid:" + item.guid.strip()
    if item.link and item.link.strip():
        return "link:" + canonical_url(item.link)
    when = item.when.isoformat() if item.when else ""
    digest = hashlib.sha256(f"{item.title.strip()}\x00{when}".encode()).hexdigest()[:32]
    return "hash:" + digest
