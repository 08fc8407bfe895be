"""`earmark report` as a person reads it (issue #23 item 4): durations in human units, empty
sections said in words, completion buckets of a round width for any span, the failed, unsure
and slow references listed (capped, each reference once, with the command that shows it), and
every reference escaped on the page. `--json` keeps its keys and its seconds."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import pytest

from producer.records import ErrorInfo, Label, ResultRecord, Timings
from producer.report import render_html, render_text
from producer.report.charts import PLOT, TOP
from producer.report.human import duration, message, rate, see_all
from producer.report.summary import LIST_LENGTH, Summary
from tests.chromium import open_page
from tests.tools import require_tool

BATCH = "night-2026-12-04"
#: When the made-up batches start: 2026-12-04 01:00:00 UTC.
T0 = datetime(2026, 12, 4, 1, 0, tzinfo=UTC).timestamp()
#: A reference as hostile as a path may be: markup, both quotes, an ampersand.
HOSTILE = "/data/\"><script>document.title='pwned'</script>&amp;<img src=x onerror=alert(1)>.wav"
#: The keys `earmark report --json` had before this work; scripts read them.
OLD_KEYS = {
    "batch_id",
    "totals",
    "labels",
    "scores",
    "errors",
    "throughput",
    "timings",
    "completions",
    "percentiles",
}


def record(
    i: int,
    at: float = T0,
    *,
    score: float | None = 0.9,
    fetch_s: float = 0.01,
    ref: str | None = None,
    code: str = "not_found",
) -> ResultRecord:
    """Job `i` of BATCH, finished at `at` (epoch seconds): ok with `score`, or failed with
    `code` when `score` is None, its message starting with the reference as fetchers write."""
    ref = ref or f"s3://audio/clip-{i}.wav"
    common: dict[str, Any] = {
        "job_id": f"{BATCH}:{i}",
        "batch_id": BATCH,
        "input": ref,
        "timings": Timings(queued_s=0.5, fetch_s=fetch_s, infer_s=0.031),
        "finished_at": datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if score is None:
        error = ErrorInfo(code=code, message=f"{ref}: No such file or directory")
        return ResultRecord(status="error", error=error, **common)
    return ResultRecord(status="ok", labels=[Label(label="yes", score=score)], **common)


def report(records: list[ResultRecord]) -> dict[str, Any]:
    """The report data of `records`, as `earmark report --json` prints it."""
    summary = Summary(BATCH)
    for each in records:
        summary.add(each)
    data: dict[str, Any] = json.loads(json.dumps(summary.data()))
    return data


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0 s"),
        (0.000112748, "113 µs"),
        (0.0000042, "4.2 µs"),
        (0.031, "31 ms"),
        (0.0042, "4.2 ms"),
        (0.9996, "1 s"),
        (4.2, "4.2 s"),
        (42.4, "42 s"),
        (59.7, "1 min"),
        (200, "3 min 20 s"),
        (3599.7, "1 h"),
        (36_300, "10 h 5 min"),
        (2 * 86_400 + 3 * 3600, "2 d 3 h"),
        (None, "-"),
    ],
)
def test_durations_read_in_human_units(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


@pytest.mark.parametrize(
    ("text", "ref", "shown"),
    [
        ("s3://b/k.wav: NoSuchKey", "s3://b/k.wav", "NoSuchKey"),
        (
            "/data/clips/a.wav: No such file or directory",
            "clips/a.wav",
            "No such file or directory",
        ),
        (
            "/data/a.wav: No such file or directory",
            "file:///data/a.wav",
            "No such file or directory",
        ),
        ("flac: not a readable container", "s3://b/k.flac", "flac: not a readable container"),
        ("/other/a.wav: gone", "/data/a.wav", "/other/a.wav: gone"),
    ],
)
def test_a_message_drops_the_reference_it_starts_with(text: str, ref: str, shown: str) -> None:
    assert message(text, ref) == shown


@pytest.mark.parametrize(
    ("per_s", "shown"), [(312.4, "312 clips/s"), (1.4237, "1.42 clips/s"), (0.125, "7.5 clips/min")]
)
def test_rates_read_per_second_or_slower(per_s: float, shown: str) -> None:
    assert rate(per_s) == shown


def test_the_text_and_the_page_say_timings_in_human_units_and_json_in_seconds() -> None:
    """Given fetches of 10 ms, inference of 31 ms and a batch of 3 min 20 s, the text and the
    page say so in those units, never as raw seconds; --json keeps the seconds."""
    data = report([record(0, T0), record(1, T0 + 200)])
    text, page = render_text(data), render_html(data)
    for shown in (text, page):
        assert "31 ms" in shown and "10 ms" in shown
        assert "0.031" not in shown.split('id="report-data"')[0]
    assert "3 min 21 s" in text  # 200 s apart, and the first record's stages before
    assert re.search(r'data-field="infer_s-p50">31 ms<', page)
    assert data["timings"]["infer_s"]["p50"] == pytest.approx(0.031, rel=0.011)
    assert isinstance(data["throughput"]["seconds"], float)


def test_an_empty_batch_says_each_section_in_words() -> None:
    """Given no records, every section says in a sentence that there is nothing, and the page
    draws no empty chart."""
    data = report([])
    text, page = render_text(data), render_html(data)
    assert "No errors." in text and "No errors." in page
    for said in ("No labels", "No scores", "No completions", "No timings", "No fetch timings"):
        assert said in page
    for said in ("top-1 labels: none", "top-1 scores: none", "timings: none"):
        assert said in text
    assert "<svg" not in page


def test_a_batch_without_errors_says_no_errors_instead_of_an_empty_chart() -> None:
    data = report([record(i, T0 + i) for i in range(5)])
    text, page = render_text(data), render_html(data)
    assert 'id="chart-errors"' not in page and "No errors." in page
    assert "No errors." in text and 'id="chart-labels"' in page


def completions_axis(page: str) -> tuple[list[str], list[float]]:
    """The completions chart's x-axis tick labels and its bars' widths."""
    chart = page[page.index('id="chart-completions"') :]
    chart = chart[: chart.index("</svg>")]
    below = rf'<text x="[\d.]+" y="{TOP + PLOT + 16}" text-anchor="\w+">([^<]+)</text>'
    ticks = re.findall(below, chart)
    widths = [float(w) for w in re.findall(r'class="bar"[^>]* width="([\d.]+)"', chart)]
    return ticks, widths


def test_a_one_second_batch_draws_a_narrow_bar_on_an_axis_in_seconds() -> None:
    """Given 300 records that all finished within one second, the chart has 1 s buckets on an
    axis labelled in seconds, and its one bar is narrow, not the chart's whole width."""
    data = report([record(i, T0 + (i % 2) * 0.9) for i in range(300)])
    assert data["completions"]["bucket_s"] == 1 and sum(data["completions"]["counts"]) == 300
    page = render_html(data)
    ticks, widths = completions_axis(page)
    assert ticks[:3] == ["0 s", "5 s", "10 s"]
    assert len(widths) <= 2 and max(widths) < 860 / 10
    assert (
        "records per 1 s" in page
        and "finished in its 1 s, from 2026-12-04 01:00:00 UTC to 01:00:01 UTC" in page
    )


def test_a_ten_hour_batch_counts_per_15_minutes_on_an_axis_in_hours() -> None:
    """Given 2,000 records over ten hours, the chart has 40 bars of 15 min, its x axis
    labelled in hours."""
    data = report([record(i, T0 + i * 18) for i in range(2000)])
    completions = data["completions"]
    assert completions["bucket_s"] == 15 * 60
    assert len(completions["counts"]) == 40 and sum(completions["counts"]) == 2000
    page = render_html(data)
    ticks, widths = completions_axis(page)
    assert ticks[:3] == ["0 s", "3 h", "6 h"] and len(widths) == 40
    assert "records finished per 15 min" in page


@pytest.mark.parametrize(
    ("span_s", "width_s"),
    [(210, 5), (3000, 60), (3600, 300), (36_000, 900), (7 * 86_400, 10_800)],
)
def test_the_bucket_width_is_round_and_leaves_tens_of_bars(span_s: int, width_s: int) -> None:
    data = report([record(0, T0), record(1, T0 + span_s)])
    assert data["completions"]["bucket_s"] == width_s
    assert len(data["completions"]["counts"]) <= 60


def mixed_batch() -> list[ResultRecord]:
    """45 failed (three codes), 255 ok with distinct scores and fetch times, in shuffled order."""
    made = []
    for i in range(300):
        if i % 20 < 3:
            made.append(
                record(i, T0 + i, score=None, code=("not_found", "forbidden", "timeout")[i % 3])
            )
        else:
            made.append(
                record(i, T0 + i, score=0.2 + (i * 37 % 300) / 400, fetch_s=(i * 53 % 300) / 1000)
            )
    return made[::7] + [r for n, r in enumerate(made) if n % 7]


def test_the_report_lists_failed_unsure_and_slow_references_capped() -> None:
    """Given 45 failures, 255 scores and 300 fetch times, --json lists the first 20 failures by
    job, the 20 lowest top-1 scores and the 20 slowest fetches, each with its total; the old
    keys stay, with the same meaning."""
    records = mixed_batch()
    data = report(records)
    assert set(data) > OLD_KEYS and data["totals"]["error"] == 45
    failed = data["failed"]
    assert failed["count"] == 45 and len(failed["items"]) == LIST_LENGTH == 20
    want = sorted((r for r in records if r.error), key=lambda r: int(str(r.job_id).split(":")[1]))
    assert [e["job_id"] for e in failed["items"]] == [r.job_id for r in want[:20]]
    first = failed["items"][0]
    assert set(first) == {"job_id", "input", "code", "message"}
    scores = sorted(r.labels[0].score for r in records if r.labels)
    assert data["lowest_scores"]["count"] == 255
    assert [e["score"] for e in data["lowest_scores"]["items"]] == scores[:20]
    fetches = sorted((r.timings.fetch_s or 0 for r in records), reverse=True)
    assert data["slowest_fetches"]["count"] == 300
    assert [e["fetch_s"] for e in data["slowest_fetches"]["items"]] == fetches[:20]


def test_each_list_ends_with_the_command_that_prints_all_of_it() -> None:
    """The text and the page show 20 of each list, then "and N more" with the command that
    prints every one; each entry names its job for `earmark results JOB`."""
    data = report(mixed_batch())
    text, page = render_text(data), render_html(data)
    for kind, more in (("failed", 25), ("lowest_scores", 235), ("slowest_fetches", 280)):
        command = see_all(BATCH, kind)
        assert f"and {more} more; all of them: {command}" in text
        assert f"and {more} more; all of them: <code>{escape(command)}</code>" in page
        table = page[page.index(f'id="list-{kind}"') :]
        table = table[: table.index("</table>")]
        assert table.count("<tr>") == 21  # the heads and 20 references
    assert "earmark results JOB" in page
    assert f"(earmark results {BATCH}:0)" in text and f"<code>{BATCH}:0</code>" in page


def test_the_commands_print_each_whole_list_in_its_order(tmp_path: Path) -> None:
    """What `earmark results BATCH` prints, piped through each list's jq program, is the whole
    list in the report's order."""
    jq = require_tool("jq", package="jq")
    records = mixed_batch()
    lines = "".join(r.to_json() + "\n" for r in records)
    data = report(records)
    for kind, key in (
        ("failed", "job_id"),
        ("lowest_scores", "job_id"),
        ("slowest_fetches", "job_id"),
    ):
        program = see_all(BATCH, kind).split(" | ", 1)[1].replace("jq", jq, 1)
        done = subprocess.run(["bash", "-c", program], input=lines, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        printed = [json.loads(line) for line in done.stdout.splitlines()]
        assert len(printed) == data[kind]["count"]
        if kind != "failed":  # failures come in the records' order, the report's in job order
            head = [p[key] for p in printed[:20]]
            assert head == [e[key] for e in data[kind]["items"]], kind


def test_a_failed_reference_is_shown_once_per_entry() -> None:
    """Given failures whose messages start with their reference (as fetchers write them),
    every example and every listed failure shows the reference once, the message after it."""
    data = report([record(i, T0 + i, score=None) for i in range(3)])
    text, page = render_text(data), render_html(data)
    body = page.split('id="report-data"')[0]
    for i in range(3):
        ref = f"s3://audio/clip-{i}.wav"
        rows = [row for row in body.split("<tr>") if ref in row]
        assert rows and all(row.count(ref) == 1 for row in rows), rows
        lines = [line for line in text.splitlines() if ref in line]
        assert lines and all(line.count(ref) == 1 for line in lines), lines
    assert "No such file or directory" in text and "No such file or directory" in body


def test_the_page_escapes_every_reference_it_prints() -> None:
    """Given a reference with markup and quotes in a failure, a low score and a slow fetch, the
    page holds it only escaped: no element of its own, no attribute broken out of."""
    data = report([record(0, T0, score=None, ref=HOSTILE), record(1, T0, score=0.1, ref=HOSTILE)])
    page = render_html(data)
    assert page.count("<script") == 1  # the inert report data, nothing else
    assert "<img" not in page and HOSTILE not in page
    assert page.count(escape(HOSTILE)) >= 4  # an example, the failed, lowest and slowest lists
    payload = page.split('<script type="application/json" id="report-data">')[1]
    assert json.loads(payload.split("</script>")[0])["failed"]["items"][0]["input"] == HOSTILE


#: Run in the page: what a reader would see of the hostile reference, and whether it ran.
HOSTILE_SEEN = """JSON.stringify({
  title: document.title,
  scripts: document.scripts.length,
  images: document.images.length,
  refs: [...document.querySelectorAll('td.ref code')].map(c => c.textContent),
})"""


@pytest.mark.slow
def test_chromium_shows_a_hostile_reference_as_text(tmp_path: Path) -> None:
    """In headless Chromium the hostile reference is text in every list, and nothing in it ran."""
    records = [record(0, T0, score=None, ref=HOSTILE), record(1, T0, score=0.1, ref=HOSTILE)]
    page = tmp_path / "report.html"
    page.write_text(render_html(report(records)))
    visit = open_page(page.as_uri(), HOSTILE_SEEN, tmp_path / "profile")
    assert visit.errors == [] and visit.requests == [page.as_uri()]
    seen = json.loads(visit.value)
    assert seen["title"] == f"earmark report {BATCH}"
    assert seen["scripts"] == 1 and seen["images"] == 0
    assert len(seen["refs"]) >= 4 and set(seen["refs"]) == {HOSTILE}


def test_the_text_writes_control_characters_as_escapes() -> None:
    """Given a reference with a terminal escape sequence and a line break, the text report
    prints them as escapes: a reference cannot recolour a terminal or forge a line."""
    ref = "/data/\x1b[31mred\nforged line.wav"
    text = render_text(report([record(0, T0, score=None, ref=ref)]))
    assert "\x1b" not in text and "\nforged line" not in text
    assert "/data/\\x1b[31mred\\nforged line.wav" in text
