"""A screenshot of `earmark report --html` on a realistic night's batch (docs/img/report.png).

``python -m scripts.report_screenshot [PNG] [--html FILE]`` writes 1,200 records of a made-up
nightly batch into a scratch results folder (what ``EARMARK_RESULTS_URL=file:///…`` reads):
keyword labels with the scores a keyword spotter gives, some far from sure; failures of five
codes with messages as the fetchers and decoders write them; fetch times with a slow tail;
completions over two hours with a slow patch. It builds the report from that folder as the
command does, and has headless Chromium draw the page whole: one run measures its height, a
second screenshots it; the PNG is then written again with 256 colours, which halves it. Nothing
here needs Redis, the network or a model.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from producer.records import ErrorInfo, Label, ResultRecord, Timings
from producer.report import build, render_html
from producer.state.ledger import BatchStatus
from producer.stores.files import FileStore
from scripts.png import palette_png

ROOT = Path(__file__).resolve().parent.parent
#: Where the documentation links the screenshot from.
DEFAULT_PNG = ROOT / "docs" / "img" / "report.png"
BATCH = "nightly-20261204"
RECORDS = 1200
#: The page's width in the screenshot, CSS pixels.
WIDTH = 1040
LABELS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_unknown_"]
#: Each failure's code, how often it happens (relative), and its message (`{ref}` filled in).
FAILURES = [
    ("not_found", 6, "{ref}: NoSuchKey"),
    ("decode_failed", 4, "flac: not a readable container"),
    ("too_large", 2, "longer than 600 s (the header says so)"),
    ("timeout", 2, "{ref}: ReadTimeoutError"),
    ("forbidden", 1, "{ref}: AccessDenied"),
]
#: Flags for a headless Chromium that fetches nothing in the background.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]


def records(n: int = RECORDS, seed: int = 4) -> list[ResultRecord]:
    """`n` records of BATCH: about 6 % failed, some unsure, finishing over two hours."""
    rng, start = random.Random(seed), datetime(2026, 12, 4, 1, 0, tzinfo=UTC).timestamp()
    made, at = [], start
    for i in range(n):
        at += rng.expovariate(1 / 6.5) * (4 if n // 2 < i < n * 3 // 5 else 1)
        ref = f"s3://field-audio/2026-12-04/site-{i % 7 + 1:02d}/clip-{i:06d}.flac"
        timings = Timings(
            queued_s=rng.expovariate(1 / 40),
            fetch_s=rng.lognormvariate(-3.5, 0.9),
            decode_s=rng.uniform(0.002, 0.02),
            infer_s=rng.uniform(0.02, 0.09),
        )
        common = {
            "job_id": f"{BATCH}:{i}",
            "batch_id": BATCH,
            "input": ref,
            "timings": timings,
            "finished_at": datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if rng.random() < 0.06:
            code, _, message = rng.choices(FAILURES, weights=[f[1] for f in FAILURES])[0]
            error = ErrorInfo(code=code, message=message.format(ref=ref))
            made.append(ResultRecord.model_validate({**common, "status": "error", "error": error}))
            continue
        top = rng.choices(LABELS, weights=[9, 8, 5, 5, 4, 4, 3, 3, 2, 2, 6])[0]
        score = rng.betavariate(6, 1.3) if rng.random() > 0.05 else rng.uniform(0.12, 0.5)
        labels = [Label(label=top, score=score)]
        made.append(ResultRecord.model_validate({**common, "status": "ok", "labels": labels}))
    return made


def render(folder: Path) -> str:
    """The HTML page of a realistic batch written into `folder`, with the ledger's counters."""
    store, made = FileStore(folder), records()
    store.put_chunk(BATCH, "0", made)
    failed = sum(record.status == "error" for record in made)
    status = BatchStatus(batch_id=BATCH, total=len(made), done=len(made), failed=failed, pending=0)
    return render_html(build(store, BATCH, status))


def chromium() -> str | None:
    """The Chromium binary on PATH, if any."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def page_height(browser: str, page: Path, scratch: Path) -> int:
    """The height of `page` laid out WIDTH pixels wide: a copy of it says so in its DOM."""
    measured = scratch / "measure.html"
    probe = "<script>document.body.dataset.height=document.documentElement.scrollHeight</script>"
    measured.write_text(page.read_text().replace("</body>", probe + "</body>"))
    dom = _run(browser, scratch, f"--window-size={WIDTH},1000", "--dump-dom", measured.as_uri())
    found = re.search(r'data-height="(\d+)"', dom)
    if found is None:
        raise RuntimeError("chromium did not lay the page out")
    return int(found.group(1))


def screenshot(browser: str, page: Path, png: Path, scratch: Path) -> None:
    """Have Chromium draw the whole of `page` into `png`."""
    height = page_height(browser, page, scratch)
    size, shot = f"--window-size={WIDTH},{height}", f"--screenshot={png.resolve()}"
    _run(browser, scratch, size, shot, page.as_uri())
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no screenshot at {png}")
    png.write_bytes(palette_png(png.read_bytes()))


def _run(browser: str, scratch: Path, *args: str) -> str:
    profile = tempfile.mkdtemp(prefix="profile-", dir=scratch)
    done = subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    """Write the screenshot (and, if asked, the page); exit 2 when Chromium is missing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("png", nargs="?", type=Path, default=DEFAULT_PNG)
    parser.add_argument("--html", type=Path, help="also keep the page here")
    args = parser.parse_args(argv)
    browser = chromium()
    if browser is None:
        print(
            "report_screenshot: chromium is not on PATH (apt-get install chromium)", file=sys.stderr
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="earmark-report-") as scratch:
        page = args.html or Path(scratch) / "report.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(render(Path(scratch) / "results"), encoding="utf-8")
        args.png.parent.mkdir(parents=True, exist_ok=True)
        screenshot(browser, page, args.png, Path(scratch))
    print(f"wrote {args.png} ({args.png.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
