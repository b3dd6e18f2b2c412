"""The console's first-page load: bytes transferred and time, cold cache, in Chromium.

    .venv/bin/python docs/console/measure_load.py

Same throwaway server as make_screenshots.py. Reports the sign-in page and the
announcements page (a signed-in browser with nothing cached), then that page again with
its files cached, then an announcement's engagement page (its charts' files not cached
yet, the console's are), and again. ``-v`` lists each request.
"""

import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).parent))
import make_screenshots as server


def _load(page: Page, url: str) -> dict[str, Any]:
    client = page.context.new_cdp_session(page)
    client.send("Network.enable")
    sizes: dict[str, int] = {}
    urls: dict[str, str] = {}
    client.on(
        "Network.requestWillBeSent",
        lambda event: urls.__setitem__(event["requestId"], event["request"]["url"]),
    )
    client.on(
        "Network.loadingFinished",
        lambda event: sizes.__setitem__(event["requestId"], int(event["encodedDataLength"])),
    )
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    timing = page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0];"
        " return {ttfb: n.responseStart - n.requestStart, load: n.loadEventEnd - n.startTime} }"
    )
    client.detach()
    if "-v" in sys.argv:
        for request_id, size in sizes.items():
            sys.stdout.write(f"  {size:7,} {urls.get(request_id, '?')[-70:]}\n")
    return {"requests": len(sizes), "bytes": sum(sizes.values()), **timing}


def capture(origin: str, slug: str, charted_id: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"]
        )
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        results = {"sign-in (cold cache)": _load(page, f"{origin}/console/sign-in")}
        page.get_by_label("Email").fill(server.EMAIL)
        page.get_by_label("Password").fill(server.PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/announcements")
        # A browser with the session but nothing cached: the console's first page, cold.
        fresh = browser.new_context(viewport={"width": 1280, "height": 800})
        fresh.add_cookies(page.context.cookies())
        page = fresh.new_page()
        url = f"{origin}/console/w/{slug}/announcements"
        results["announcements (cold cache)"] = _load(page, url)
        results["announcements (warm cache)"] = _load(page, url)
        url = f"{origin}/console/w/{slug}/announcements/{charted_id}/engagement"
        results["engagement (first visit)"] = _load(page, url)
        results["engagement (warm cache)"] = _load(page, url)
        for name, figures in results.items():
            sys.stdout.write(
                f"{name:30} {figures['requests']:2} requests {figures['bytes']:7,} bytes "
                f"TTFB {figures['ttfb']:6.1f} ms  load {figures['load']:6.1f} ms\n"
            )
        browser.close()


if __name__ == "__main__":
    server.capture = capture  # the same seeded server, another walk through it
    server.main()
