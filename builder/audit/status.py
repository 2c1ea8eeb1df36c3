"""The verification report: JSON for machines, one HTML page for people.

The page is a project x platform matrix; each cell says built, reproduced, differs or
failed and links to the rebuild's log and the diffoscope report, so that "why is X
missing or different?" is answered by opening it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from html import escape
from pathlib import Path
from typing import Any

from builder.atomic import write_atomic
from builder.audit.verify import Row, Verdict

_COLOURS = {
    Verdict.REPRODUCED: "#c8f0c8",
    Verdict.DIFFERS: "#f6b3b3",
    Verdict.TOOLCHAIN_DIFFERS: "#f6e3a3",
    Verdict.FAILED: "#f6b3b3",
    Verdict.NOT_BUILDABLE: "#e4e4e4",
}


def summary(rows: list[Row]) -> dict[str, Any]:
    counts = Counter(row.verdict for row in rows)
    checked = sum(counts[v] for v in Verdict if v is not Verdict.NOT_BUILDABLE)
    return {
        "pairs": len(rows),
        "checked here": checked,
        "reproduced": counts[Verdict.REPRODUCED],
        "share reproduced": round(counts[Verdict.REPRODUCED] / checked, 4) if checked else None,
        **{str(v): counts[v] for v in Verdict},
    }


def report_json(rows: list[Row], *, source: str, variation: dict[str, str]) -> bytes:
    document = {
        "source": source,
        "variation": variation,
        "summary": summary(rows),
        "rows": [{**asdict(row), "verdict": str(row.verdict)} for row in rows],
    }
    return json.dumps(document, sort_keys=True, indent=2).encode() + b"\n"


def _cell(row: Row) -> str:
    links = []
    if row.log:
        links.append(f'<a href="{escape(row.log)}">log</a>')
    if row.diff_html:
        links.append(f'<a href="{escape(row.diff_html)}">diff</a>')
    title = escape(row.detail or row.wheel, quote=True)
    return (
        f'<td style="background:{_COLOURS[row.verdict]}" title="{title}">'
        f"{escape(str(row.verdict))}<br><small>{' '.join(links)}</small></td>"
    )


def status_page(rows: list[Row], *, source: str, variation: dict[str, str]) -> bytes:
    platforms = sorted({row.platform for row in rows})
    projects = sorted({row.project for row in rows})
    cells = {(row.project, row.platform): row for row in rows}
    head = "".join(f"<th>{escape(p)}</th>" for p in platforms)
    body = []
    for project in projects:
        tds = "".join(
            _cell(cells[(project, p)]) if (project, p) in cells else "<td>-</td>" for p in platforms
        )
        body.append(f"<tr><th>{escape(project)}</th>{tds}</tr>")
    facts = summary(rows)
    varied = "".join(f"<li>{escape(k)}: {escape(v)}</li>" for k, v in variation.items())
    share = facts["share reproduced"]
    headline = (
        f"{facts['reproduced']} of {facts['checked here']} (project, platform) pairs "
        f"rebuilt here reproduced bit for bit" + (f" ({share:.1%})" if share is not None else "")
    )
    details = "".join(
        f"<h3>{escape(r.project)} on {escape(r.platform)}: {escape(str(r.verdict))}</h3>"
        f"<pre>{escape(r.detail)}</pre>"
        for r in rows
        if r.verdict in (Verdict.DIFFERS, Verdict.TOOLCHAIN_DIFFERS, Verdict.FAILED)
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>IPWHL status</title>'
        "<style>td,th{padding:4px 8px;font:13px sans-serif;border:1px solid #ccc}"
        "table{border-collapse:collapse}</style></head><body>"
        f"<h1>IPWHL verification</h1><p>Source: <code>{escape(source)}</code></p>"
        f"<p><strong>{escape(headline)}</strong></p>"
        f"<p>Rebuilt under deliberate variation:</p><ul>{varied}</ul>"
        f"<table><tr><th>project</th>{head}</tr>{''.join(body)}</table>"
        f"{details}</body></html>\n"
    ).encode()


def write_report(rows: list[Row], out: Path, *, source: str, variation: dict[str, str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, data in (
        ("report.json", report_json(rows, source=source, variation=variation)),
        ("index.html", status_page(rows, source=source, variation=variation)),
    ):
        write_atomic(out / name, data)
