"""The report stage: one self-contained HTML file per gate run, plus a markdown
summary for pull-request comments, JUnit XML and the ``--json`` verdict.

Everything is rendered from the store alone (see :func:`write_reports`).
"""

from perfgate.report.render import ReportPaths, load_run, render_html, write_reports
from perfgate.report.summary import junit_xml, markdown_summary

__all__ = ["ReportPaths", "junit_xml", "load_run", "markdown_summary", "render_html", "write_reports"]
