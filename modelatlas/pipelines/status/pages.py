"""The status pages ModelAtlas polls: `MODELATLAS_STATUS_PAGES` as `name=platform:url`, comma-separated."""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelatlas.errors import ConfigurationError

PLATFORMS = ("statuspage", "incidentio", "betterstack", "gcp", "feed")
# (name, platform, public URL): for a feed the URL is the feed itself, otherwise the page's root.
DEFAULT_PAGES = (
    ("anthropic", "statuspage", "https://status.claude.com"),
    ("openai", "incidentio", "https://status.openai.com"),
    ("huggingface", "betterstack", "https://status.huggingface.co"),
    ("gemini", "gcp", "https://status.cloud.google.com"),
    ("openrouter", "feed", "https://status.openrouter.ai/incidents.rss"),
)
DEFAULT = ",".join(f"{name}={platform}:{url}" for name, platform, url in DEFAULT_PAGES)
FEED_FILE = "incidents.rss"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


@dataclass(frozen=True)
class Page:
    """One status page: the name its rows carry, the platform that serves it, and its URL."""

    name: str
    platform: str
    url: str

    @property
    def provider(self) -> str:
        """The provider the page reports on: the page's name."""
        return self.name


def parse_page(entry: str, variable: str) -> Page:
    """One `name=platform:url` entry."""
    name, equals, rest = entry.partition("=")
    platform, colon, url = rest.partition(":")
    name, platform, url = name.strip().lower(), platform.strip().lower(), url.strip().rstrip("/")
    if not equals or not colon:
        raise ConfigurationError(f"{variable}: {entry.strip()!r} is not name=platform:url")
    if not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"{variable}: page name {name!r} must be lowercase letters, digits, '-' or '_' (in {entry.strip()!r})"
        )
    if platform not in PLATFORMS:
        raise ConfigurationError(
            f"{variable}: unknown status platform {platform!r} for page {name!r}; the platforms are "
            f"{', '.join(PLATFORMS)}"
        )
    if not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0:
        raise ConfigurationError(f"{variable}: page {name!r} needs an http(s) URL, got {url!r}")
    return Page(name, platform, url)


def parse_pages(raw: str, variable: str) -> tuple[Page, ...]:
    """Every page of `raw`; a ConfigurationError naming `variable` on a malformed entry or a repeated name."""
    entries = [entry for entry in raw.split(",") if entry.strip()]
    if not entries:
        raise ConfigurationError(f"{variable} lists no status page; expected name=platform:url, comma-separated")
    pages = tuple(parse_page(entry, variable) for entry in entries)
    names = [page.name for page in pages]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigurationError(f"{variable} names the page {', '.join(repeated)} more than once")
    return pages


def simulated_pages(root: str) -> str:
    """The default pages as the simulator serves them below `root`: each page under its name."""
    entries = []
    for name, platform, _url in DEFAULT_PAGES:
        url = f"{root}/{name}/{FEED_FILE}" if platform == "feed" else f"{root}/{name}"
        entries.append(f"{name}={platform}:{url}")
    return ",".join(entries)
