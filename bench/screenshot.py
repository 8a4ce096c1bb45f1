"""Render an HTML file to a PNG with headless Chromium, to look at a report page without a browser.

    python bench/screenshot.py results/demo/report.html /tmp/report.png [--width 1400] [--height 3000]

Needs a ``chromium`` (or ``chromium-browser``, ``google-chrome``) on the PATH; Debian: ``apt-get
install chromium``. Nothing is fetched from the network: the flags turn off every background
connection, and the report page is self-contained.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def screenshot(html: str | Path, png: str | Path, width: int = 1400, height: int = 3000, timeout: float = 120) -> Path:
    """Write a ``width`` x ``height`` PNG of the page at ``html``; return its path."""
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser is None:
        raise FileNotFoundError(f"none of {', '.join(BROWSERS)} is on the PATH")
    html, png = Path(html).resolve(), Path(png).resolve()
    if not html.exists():
        raise FileNotFoundError(html)
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},{height}",
                   f"--screenshot={png}", html.as_uri()]
        result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0 or not png.exists():
        raise RuntimeError(f"{Path(browser).name} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html")
    parser.add_argument("png")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=3000)
    args = parser.parse_args(argv)
    print(screenshot(args.html, args.png, args.width, args.height))
    return 0


if __name__ == "__main__":
    sys.exit(main())
