"""A PNG of one complaint's workflow page in the Temporal UI, taken with headless Chromium.

    .venv/bin/python scripts/screenshot_ui.py CRN [--out docs/ui-complaint.png]
        [--tab user-metadata|timeline|history|search-attributes] [--size 1600x1000]
    .venv/bin/python scripts/screenshot_ui.py --query 'SlaBreached = true' --out list.png

Run it against a running `make dev` (UI on http://localhost:8233, or TEMPORAL_UI_URL).
The default tab, User Metadata, shows the complaint's static summary and details and its
current details; `--tab timeline` shows its timers and activities with their summaries;
`--query` takes the Workflows list filtered by a visibility query instead.

The UI is a JavaScript app that keeps polling, so `chromium --screenshot` alone catches an
empty page and `--virtual-time-budget` never settles. This drives Chromium (Debian's
/usr/bin/chromium, or CHROMIUM) over the DevTools protocol on a pipe
(`--remote-debugging-pipe`, standard library only): open the complaint, wait until the tab
shows what it should, then capture it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CRN = re.compile(r"^CRN-[A-Z2-7]{10}$")
# A tab is ready when it shows the CRN and these; other tabs, the CRN alone.
TABS = {
    # the static summary ("CRN-... · customer · subject"), details and current details
    # (each rendered from markdown in its own iframe)
    "user-metadata": ("Summary", "Details", "Current Details", "{crn} ·", "Owner: "),
    # timers and activities, each with its one-line summary ("send_email • Email ...")
    "timeline": ("Timeline", " • "),
    "history": ("Event History", "Workflow Execution Started"),
    "search-attributes": ("ComplaintStatus",),
}

# The page's text and that of its iframes (the UI renders summaries and details in them).
PAGE_TEXT = ("[document, ...[...document.querySelectorAll('iframe')].map(f => {"
             " try { return f.contentDocument; } catch (e) { return null; } })]"
             ".map(d => d && d.body ? d.body.innerText : '').join('\\n')")


class Failed(Exception):
    pass


class DevTools:
    """The Chrome DevTools protocol over --remote-debugging-pipe: JSON messages separated by
    NUL, Chromium reading commands on its fd 3 and writing answers on its fd 4."""

    def __init__(self, argv: list[str]) -> None:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # A shell puts the two pipe ends where Chromium expects them (r < w, both > 2).
        redirect = f'exec "$@" 3<&{to_child_r} 4>&{from_child_w}'
        self.proc = subprocess.Popen(["/bin/sh", "-c", redirect, "sh", *argv],
                                     pass_fds=(to_child_r, from_child_w),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline, method)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise Failed(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            # anything else is an event we did not ask for; skip it

    def _read(self, deadline: float, method: str) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed(f"Chromium did not answer {method} in time")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise Failed(f"Chromium exited (code {self.proc.poll()}) during {method}")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (Failed, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass


class Page:
    """One headless Chromium tab of the given size."""

    def __init__(self, chromium: str, width: int, height: int, wait: float) -> None:
        self.wait = wait
        self._profile = tempfile.TemporaryDirectory(prefix="ui-shot-")
        self._browser = DevTools([chromium, "--headless", "--disable-gpu", "--no-sandbox",
                                  "--hide-scrollbars", "--no-first-run", "--mute-audio",
                                  "--remote-debugging-pipe",
                                  f"--user-data-dir={self._profile.name}",
                                  f"--window-size={width},{height}", "about:blank"])
        try:
            target = self._browser.call("Target.createTarget", {"url": "about:blank"})
            self._session = self._browser.call(
                "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
            )["sessionId"]
            self._call("Emulation.setDeviceMetricsOverride",
                       {"width": width, "height": height, "deviceScaleFactor": 1,
                        "mobile": False})
        except BaseException:
            self.close()
            raise

    def _call(self, method: str, params: dict | None = None) -> dict:
        return self._browser.call(method, params, self._session)

    def go(self, url: str) -> None:
        self._call("Page.navigate", {"url": url})

    def evaluate(self, expression: str):
        result = self._call("Runtime.evaluate", {"expression": expression,
                                                 "returnByValue": True})
        return result.get("result", {}).get("value")

    def wait_for(self, what: str, expression: str) -> None:
        deadline = time.monotonic() + self.wait
        while self.evaluate(expression) is not True:
            if time.monotonic() > deadline:
                text = self.evaluate(PAGE_TEXT) or ""
                raise Failed(f"the page did not show {what} within {self.wait:.0f} s; it "
                             f"shows: {' '.join(text.split())[:300]!r}")
            time.sleep(0.5)

    def wait_for_text(self, words: list[str]) -> None:
        self.wait_for(", ".join(words),
                      f"{json.dumps(words)}.every(w => ({PAGE_TEXT}).includes(w))")

    def save(self, out: Path) -> None:
        time.sleep(2)  # let the last rows, the timeline and the fonts settle
        shot = self._call("Page.captureScreenshot", {"format": "png"})
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        self._browser.close()
        self._profile.cleanup()


def complaint(page: Page, ui: str, namespace: str, crn: str, tab: str) -> str:
    """The complaint's workflow page on `tab`; returns its address."""
    page.go(f"{ui}/namespaces/{namespace}/workflows/{crn}")
    # The UI redirects to .../workflows/<CRN>/<run id>/<its default tab>.
    run_page = rf"/workflows/{crn}/[0-9a-f-]{{36}}/"
    page.wait_for(f"the workflow {crn} (is it a CRN this Temporal knows?)",
                  f"new RegExp({json.dumps(run_page)}).test(location.pathname)")
    path = page.evaluate("location.pathname")
    url = f"{ui}{path[:path.rindex('/')]}/{tab}"
    if not path.endswith("/" + tab):
        page.go(url)
    page.wait_for_text([crn, *(m.format(crn=crn) for m in TABS.get(tab, ()))])
    return url


def workflow_list(page: Page, ui: str, namespace: str, query: str) -> str:
    """The Workflows list filtered by a visibility query; returns its address."""
    url = f"{ui}/namespaces/{namespace}/workflows?query={urllib.parse.quote(query)}"
    page.go(url)
    # Rows of complaints, or the UI's empty result; either way the filter chips are shown.
    page.wait_for("the filtered list", f"(t => t.includes('ComplaintWorkflow') || "
                  f"t.includes('No Workflows Found'))({PAGE_TEXT})")
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("crn", nargs="?", help="the complaint's CRN (its workflow id)")
    parser.add_argument("--query", help="instead of a complaint, the Workflows list filtered "
                        'by this visibility query, e.g. \'SlaBreached = true\'')
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "ui-complaint.png",
                        help="where the PNG goes (default docs/ui-complaint.png)")
    parser.add_argument("--tab", default="user-metadata",
                        help="the complaint page's tab: user-metadata (summary, details, "
                        "current details; the default), timeline, history, search-attributes")
    parser.add_argument("--ui", default=os.environ.get("TEMPORAL_UI_URL",
                                                       "http://localhost:8233"),
                        help="the Temporal UI (default http://localhost:8233)")
    parser.add_argument("--namespace", default=os.environ.get("TEMPORAL_NAMESPACE", "default"))
    parser.add_argument("--size", default="1600x1000", help="window WIDTHxHEIGHT (1600x1000)")
    parser.add_argument("--wait", type=float, default=60.0,
                        help="seconds to wait for the page to render (60)")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        "chromium"), help="the browser binary (default: chromium on PATH)")
    args = parser.parse_args(argv)

    if (args.crn is None) == (args.query is None):
        parser.error("give a CRN or --query, one of the two")
    if args.crn is not None and not CRN.match(args.crn):
        parser.error(f"{args.crn!r} is not a CRN (they look like CRN-WKTLI5TNQT)")
    try:
        width, height = (int(n) for n in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size {args.size!r}: expected WIDTHxHEIGHT, e.g. 1600x1000")
    ui = args.ui.rstrip("/")
    try:
        urllib.request.urlopen(ui, timeout=5).close()
    except (urllib.error.URLError, OSError) as err:
        print(f"screenshot_ui: the Temporal UI does not answer on {ui} ({err}); "
              "is `make dev` running?", file=sys.stderr)
        return 1
    try:
        page = Page(args.chromium, width, height, args.wait)
        try:
            if args.query is not None:
                url = workflow_list(page, ui, args.namespace, args.query)
            else:
                url = complaint(page, ui, args.namespace, args.crn, args.tab)
            page.save(args.out)
        finally:
            page.close()
    except (Failed, OSError) as err:
        print(f"screenshot_ui: {err}", file=sys.stderr)
        return 1
    print(f"{args.out}: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
