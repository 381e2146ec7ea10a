"""A minimal document model rendered to both Markdown and HTML.

The report is built once as a list of blocks (headings, paragraphs, tables,
images, lists) and written twice, so the two formats cannot disagree.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;line-height:1.4}
table{border-collapse:collapse;margin:0.8em 0;font-size:0.9em}th,td{border:1px solid #bbb;padding:3px 7px}
th{background:#eee}td{text-align:right}td:first-child{text-align:left}img{max-width:100%}
.note{color:#555;font-size:0.85em}code{background:#f4f4f4;padding:0 3px}"""


@dataclass
class Document:
    """Blocks in order; ``title`` ``None`` renders no top heading (a fragment)."""

    title: str | None
    blocks: list = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("h", level, text))

    def para(self, text: str, note: bool = False) -> None:
        self.blocks.append(("p", text, note))

    def bullets(self, items: list[str]) -> None:
        self.blocks.append(("ul", list(items)))

    def table(self, header: list[str], rows: list[list], note: str | None = None) -> None:
        self.blocks.append(("table", list(header), [[("" if c is None else str(c)) for c in r] for r in rows], note))

    def image(self, path: str, alt: str) -> None:
        self.blocks.append(("img", path, alt))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    # -- rendering ---------------------------------------------------------

    def markdown(self) -> str:
        out = [f"# {self.title}", ""] if self.title else []
        for b in self.blocks:
            kind = b[0]
            if kind == "h":
                out += ["#" * b[1] + " " + b[2], ""]
            elif kind == "p":
                out += [("_" + b[1] + "_") if b[2] else b[1], ""]
            elif kind == "ul":
                out += [f"- {item}" for item in b[1]] + [""]
            elif kind == "table":
                header, rows, note = b[1], b[2], b[3]
                out.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
                out.append("|" + "|".join("---" for _ in header) + "|")
                out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
                out.append("")
                if note:
                    out += ["_" + note + "_", ""]
            elif kind == "img":
                out += [f"![{b[2]}]({b[1]})", ""]
            elif kind == "code":
                out += ["```", b[1], "```", ""]
        return "\n".join(out).rstrip() + "\n"

    def html(self) -> str:
        out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
               f"<title>{html.escape(self.title or '')}</title><style>{_CSS}</style></head><body>"]
        if self.title:
            out.append(f"<h1>{html.escape(self.title)}</h1>")
        for b in self.blocks:
            kind = b[0]
            if kind == "h":
                out.append(f"<h{b[1]}>{html.escape(b[2])}</h{b[1]}>")
            elif kind == "p":
                out.append(f'<p{" class=note" if b[2] else ""}>{_inline(b[1])}</p>')
            elif kind == "ul":
                out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b[1]) + "</ul>")
            elif kind == "table":
                header, rows, note = b[1], b[2], b[3]
                out.append("<table><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in header) + "</tr>")
                out += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rows]
                out.append("</table>")
                if note:
                    out.append(f'<p class="note">{_inline(note)}</p>')
            elif kind == "img":
                out.append(f'<p><img src="{html.escape(b[1])}" alt="{html.escape(b[2])}"></p>')
            elif kind == "code":
                out.append(f"<pre><code>{html.escape(b[1])}</code></pre>")
        out.append("</body></html>")
        return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _inline(text: str) -> str:
    """HTML for inline Markdown: only backtick code spans are interpreted."""
    parts = str(text).split("`")
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts))
