"""The morning report of one batch: streamed aggregates, as text, JSON data or an HTML page."""

from __future__ import annotations

from producer.report.page import render_html
from producer.report.summary import Summary, build
from producer.report.text import render_text

__all__ = ["Summary", "build", "render_html", "render_text"]
