"""Reports: the park summary (pure), its figures (PNG) and a small HTML page."""

from bitgaram.report.figures import plot_park
from bitgaram.report.html import park_html, write_park_html
from bitgaram.report.summary import ParkSummary, TenantSummary, read_park_summary, summary_of

__all__ = [
    "ParkSummary",
    "TenantSummary",
    "park_html",
    "plot_park",
    "read_park_summary",
    "summary_of",
    "write_park_html",
]
