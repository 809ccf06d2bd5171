"""Web pages into Articles: fetch a URL, check it is HTML, extract the article."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date

from assistant.types import Article
from ingest.fetch import Fetcher, FetchError
from ingest.html import ExtractionError, extract
from ingest.loaders import LoadError, describe, page_article

_HTML_TYPES = {"text/html", "application/xhtml+xml", ""}


def load_url(fetcher: Fetcher, url: str, source: str = "", title: str = "", author: str = "",
             published: date | None = None) -> Article:
    """The article at `url` (its id derived from this URL); given fields win over the page's own.

    Raises FetchError for HTTP problems and ExtractionError for non-HTML, malformed or non-article pages.
    """
    response = fetcher.get(url)
    if response.content_type not in _HTML_TYPES:
        raise ExtractionError(f"not an HTML page (content type {response.content_type})")
    page = extract(response.body, url=url, charset=response.charset)
    return page_article(page, origin=url, url=url, source=source, title=title, author=author, published=published)


def load_urls(fetcher: Fetcher, urls: Iterable[str]) -> Iterator[Article | LoadError]:
    """The article at each URL, or a LoadError naming the URL and the problem."""
    for url in urls:
        try:
            yield load_url(fetcher, url)
        except FetchError as error:
            yield LoadError(error.url, error.problem)
        except ExtractionError as error:
            yield LoadError(url, str(error))
        except Exception as error:  # anything else one page brings fails that page only
            yield LoadError(url, f"could not read the page ({describe(error)})")
