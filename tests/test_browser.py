"""The built book in a real browser: every page opened in headless Chromium (Debian's chromium and chromium-driver,
driven by selenium) at 1,400 px, offline (every host name resolves to nothing).

For every page: its images load, its maths is typeset by the local MathJax, the browser logs no console error, no
paragraph is a Markdown table printed as text ("| a | b |"), every claim's status badge lies inside the window
with no claims table wider than its column, no code, output or table block scrolls sideways, and the page links
its favicon. Every relative link points to a file of the
build and, where it names an anchor, to an id of that page. The search page finds "bifurcation".

The book is built into a temporary folder from the notebooks' stored outputs (execution off: `make test`'s nbval
runs have just checked that a fresh kernel reproduces them, and `make book` executes them; about 30 s on 2 cores);
BOOK_HTML=path/to/_build/html checks a build that exists instead. Skipped, with its reason, where chromium or chromedriver is not installed (`.ci/run` installs
them); `make test` prints one line then.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
SKIP_REASON = "browser test skipped: chromium and chromedriver are not installed (.ci/run installs them with apt-get)"

if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(SKIP_REASON, allow_module_level=True)

WIDTH, HEIGHT = 1400, 1000
COUNTS: dict[str, int] = {}


def stored_outputs_config(text: str) -> str:
    """The book's _config.yml with notebook execution off (the stored outputs are rendered) and its local extension's
    folder absolute (a config outside the book resolves relative paths from its own folder)."""
    off = re.sub(r"(?m)^(\s*execute_notebooks:\s*)force\s*$", r'\1"off"', text)
    off = re.sub(r"(?m)^(\s*bookweb:\s*)_ext\b", lambda m: m.group(1) + str(ROOT / "_ext"), off)
    assert off.count('execute_notebooks: "off"') == 1 and str(ROOT / "_ext") in off, "_config.yml changed shape"
    return off


@pytest.fixture(scope="module")
def html_root(tmp_path_factory) -> Path:
    if os.environ.get("BOOK_HTML"):
        root = Path(os.environ["BOOK_HTML"]).resolve()
        assert (root / "index.html").is_file(), f"BOOK_HTML={root} holds no built book"
        return root
    out = tmp_path_factory.mktemp("book")
    config = out / "_config.yml"
    config.write_text(stored_outputs_config((ROOT / "_config.yml").read_text()))
    env = {**os.environ, "LANDSCAPE_COMPUTE": "never"}
    jb = Path(sys.executable).with_name("jupyter-book")
    done = subprocess.run([str(jb), "build", str(ROOT), "--config", str(config), "--path-output", str(out), "-W",
                           "--keep-going"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return out / "_build" / "html"


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={WIDTH},{HEIGHT}", "--allow-file-access-from-files",
                "--host-resolver-rules=MAP * ~NOTFOUND"):  # offline: no host name resolves
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(WIDTH, HEIGHT)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def pages(root: Path) -> list[Path]:
    return sorted([*root.glob("*.html"), *root.glob("book/*.html")])


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag in ("img", "script") and attrs.get("src"):
            self.hrefs.append(attrs["src"])
        if tag == "link" and attrs.get("href") and attrs.get("rel") != "canonical":
            self.hrefs.append(attrs["href"])


def parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_every_relative_link_and_anchor_resolves(html_root):
    parsed = {p: parse(p) for p in pages(html_root)}
    broken, checked = [], 0
    for page, links in parsed.items():
        for href in links.hrefs:
            parts = urlsplit(href)
            if parts.scheme or href.startswith(("#", "//", "mailto:", "javascript:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            checked += 1
            if not target.exists():
                broken.append(f"{page.relative_to(html_root)} → {href}")
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(html_root)} → {href} (no such anchor)")
    COUNTS["relative links checked"] = checked
    assert checked > 100 and not broken, broken[:20]


def _open(driver, path: Path, query: str = ""):
    driver.get(path.as_uri() + query)
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const ready = () => document.readyState === 'complete';"
        "const wait = () => ready() ? done(true) : setTimeout(wait, 50); wait();")


def _typeset(driver) -> None:
    """Wait for MathJax, where the page loads it, to finish typesetting."""
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const start = Date.now();"
        "const wait = () => {"
        "  if (!document.querySelector('script[src*=\"mathjax\"]')) return done('none');"
        "  if (window.MathJax && MathJax.startup && MathJax.startup.promise)"
        "    return MathJax.startup.promise.then(() => done('ok'), e => done('error: ' + e));"
        "  if (Date.now() - start > 30000) return done('timeout');"
        "  setTimeout(wait, 100); };"
        "wait();")


PAGE_CHECK = r"""
const out = {};
const images = Array.from(document.images);
out.images = images.length;
out.brokenImages = images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'));
const maths = Array.from(document.querySelectorAll('span.math, div.math'));
out.maths = maths.length;
out.untypeset = maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 60));
out.pipeParagraphs = Array.from(document.querySelectorAll('article p'))
  .map(p => p.textContent.trim()).filter(t => /^\|.*\|.*\|/.test(t)).map(t => t.slice(0, 80));
const badges = Array.from(document.querySelectorAll('.claim-status'));
out.badges = badges.length;
out.hiddenBadges = badges.filter(b => {
  const r = b.getBoundingClientRect();
  return !(r.width > 0 && r.left >= 0 && r.right <= window.innerWidth);
}).map(b => b.closest('tr') ? b.closest('tr').textContent.trim().slice(0, 60) : b.textContent);
out.scrollingClaimTables = Array.from(document.querySelectorAll('table.claims')).filter(t => {
  let box = t.parentElement;
  while (box && box !== document.body) {
    if (box.scrollWidth > box.clientWidth + 1 && getComputedStyle(box).overflowX !== 'visible') return true;
    box = box.parentElement;
  }
  return t.getBoundingClientRect().right > window.innerWidth;
}).length;
out.sideways = Array.from(document.querySelectorAll('article pre, article div.cell_output, article div.output, '
  + 'article table, article .pst-scrollable-table-container, article div.highlight'))
  .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible')
  .map(e => e.tagName.toLowerCase() + '.' + (e.className || '').toString().split(' ')[0] + ': '
       + e.textContent.trim().slice(0, 50));
out.favicon = !!document.querySelector('link[rel~="icon"]');
return out;
"""


def test_every_page_in_chromium(html_root, browser):
    failures, totals = [], {"pages": 0, "images": 0, "maths": 0, "claim badges": 0}
    for page in pages(html_root):
        browser.get_log("browser")  # drop what an earlier page left
        _open(browser, page)
        _typeset(browser)
        for image in browser.find_elements("css selector", "img"):
            browser.execute_script("arguments[0].scrollIntoView();", image)  # lazy images load too
        result = browser.execute_script(PAGE_CHECK)
        errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        name = str(page.relative_to(html_root))
        for key in ("brokenImages", "untypeset", "pipeParagraphs", "hiddenBadges", "sideways"):
            if result[key]:
                failures.append(f"{name}: {key} {result[key][:3]}")
        if result["scrollingClaimTables"]:
            failures.append(f"{name}: {result['scrollingClaimTables']} claims table(s) scroll sideways")
        if errors:
            failures.append(f"{name}: console errors {errors[:3]}")
        if not result["favicon"]:
            failures.append(f"{name}: no favicon link")
        totals["blocks scrolling sideways"] = totals.get("blocks scrolling sideways", 0) + len(result["sideways"])
        totals["pages"] += 1
        totals["images"] += result["images"]
        totals["maths"] += result["maths"]
        totals["claim badges"] += result["badges"]
    COUNTS.update(totals)
    print("\nbrowser check: " + json.dumps(COUNTS))
    assert totals["pages"] >= 15 and totals["images"] > 20 and totals["maths"] > 100 and totals["claim badges"] > 40
    assert not failures, "\n".join(failures[:30])


def test_search_finds_bifurcation(html_root, browser):
    _open(browser, html_root / "search.html", "?q=bifurcation")
    found = browser.execute_async_script(
        "const done = arguments[arguments.length - 1]; const start = Date.now();"
        "const wait = () => { const hits = document.querySelectorAll('#search-results ul.search li');"
        "  if (hits.length) return done(Array.from(hits).map(h => h.textContent.trim().slice(0, 80)));"
        "  if (Date.now() - start > 30000) return done([]); setTimeout(wait, 100); }; wait();")
    COUNTS["search hits for 'bifurcation'"] = len(found)
    print("\nsearch 'bifurcation': " + json.dumps(found[:5], ensure_ascii=False))
    assert found and any("spiral" in hit.lower() or "bifurcation" in hit.lower() for hit in found), found


def test_a_pipe_paragraph_and_a_hidden_badge_would_be_caught(tmp_path, browser):
    """The page check itself: a table printed as text and a badge pushed off-screen are both reported."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><article><p>| a | b |</p>"
                    "<pre style='overflow-x:auto; white-space:pre; width:200px'>" + "x" * 400 + "</pre></article>"
                    "<table class='claims' style='width:3000px'><tr><td>"
                    "<span class='claim-status' style='margin-left:2500px'>partly</span></td></tr></table>"
                    "</body></html>")
    _open(browser, page)
    result = browser.execute_script(PAGE_CHECK)
    assert result["pipeParagraphs"] and result["hiddenBadges"] and result["scrollingClaimTables"]
    assert result["sideways"] and not result["favicon"]  # a block scrolling sideways; a page without a favicon
