"""Reading detailed_results.html as a browser and a participant would: its tags, URLs, visible text
by CSS class, images, and the per-class tables. Used by this bundle's tests and, loaded from a bake,
by the template's tests of the scoring program (so it imports nothing but the standard library)."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

PNG = b"\x89PNG\r\n\x1a\n"
MAX_BYTES = 300_000


VOID = {"meta", "img", "br", "hr", "link", "input"}


class Page(HTMLParser):
    """What a browser would fetch or run: tags, their URLs, the visible text, and the text of
    each element by CSS class (so a test reads the summary tiles the way a participant does)."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[tuple[str, str]] = []
        self.text: list[str] = []
        self.by_class: dict[str, list[str]] = {}
        self.definitions: list[tuple[str, str]] = []  # (dt, dd) pairs of the definition lists
        self._open: list[list[str]] = []  # classes of each open element
        self.images: list[tuple[str, str]] = []  # (alt, src)
        self._term: str | None = None  # "dt" or "dd" while one is being read
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href"):
                self.urls.append((tag, value or ""))
        if tag == "img":
            self.images.append((dict(attrs).get("alt") or "", dict(attrs).get("src") or ""))
        if tag == "dt":
            self.definitions.append(("", ""))
        if tag in ("dt", "dd"):
            self._term = tag
        if tag not in VOID:
            classes = (dict(attrs).get("class") or "").split()
            for name in classes:
                self.by_class.setdefault(name, []).append("")
            self._open.append(classes)

    def handle_endtag(self, tag):
        if tag not in VOID and self._open:
            self._open.pop()
        if tag in ("dt", "dd"):
            self._term = None

    def handle_data(self, data):
        self.text.append(data)
        if self._term:
            term, value = self.definitions[-1]
            self.definitions[-1] = (term + data, value) if self._term == "dt" else (term, value + data)
        for classes in self._open:
            for name in classes:
                self.by_class[name][-1] += data

    def texts(self, css_class: str) -> list[str]:
        return [" ".join(t.split()) for t in self.by_class.get(css_class, [])]


def assert_complete_page(html: str) -> Page:
    """What every version of the page must be, whenever the worker happens to upload it."""
    assert html.lstrip().startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    page = Page(html)
    assert page.texts("status") and "Progress" in page.text
    for _, src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    assert not [url for _, url in page.urls if url.startswith(("http:", "https:", "//"))]
    assert len(html.encode("utf-8")) < MAX_BYTES
    return page


CLASS_ROW = re.compile(r"<tr><td>(.*?)</td><td>(\d+)</td><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>")


def class_tables(html: str) -> list[list[tuple[str, ...]]]:
    """The rows (label as in the HTML, true rows, predicted rows, precision, recall) of each per-class table."""
    return [CLASS_ROW.findall(block) for block in re.findall(r'<div class="class-table">(.*?)</table>', html)]


STANDING_ROW = re.compile(r'<tr><td>(.*?)<div class="better">[^<]*</div></td><td class="num">([^<]*)</td>'
                          r'<td class="num">([^<]*)</td><td class="num">([^<]*)</td>'
                          r'<td class="num">([^<]*)(?:<div class="better">([^<]*)</div>)?</td></tr>')


def standing_tables(html: str) -> list[list[tuple[str, ...]]]:
    """The rows (metric title, score, 95 % interval, baseline's score, difference as "+0.0310 better") of each
    dataset's scores table."""
    return [[(*row[:4], " ".join(filter(None, row[4:]))) for row in STANDING_ROW.findall(block)]
            for block in re.findall(r'<table class="standings">(.*?)</table>', html)]
