"""How every command prints: consoles, JSON, sizes, durations, times, plurals.

Sizes are decimal, as rich's progress bars and httpie print them: 1 kB = 1,000 bytes.

Data (keys, prefixes, names, reasons, errors) never goes into a string rich reads as
markup: a key `z[/]` would raise MarkupError, `photo[b].jpg` would print bold `photo.jpg`.
Lines with our own styling are built by `markup(template, *data)`, table cells and
titles from data are Text (`cell`), so data prints as it is.
"""

from __future__ import annotations

import json
import os
import sys
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from itertools import accumulate
from string import Formatter
from typing import TYPE_CHECKING, Any

from rich import progress as bars
from rich.console import Console
from rich.style import Style
from rich.text import Span, Text

from imagepipe.executions import FAILED_STATUSES

if TYPE_CHECKING:
    from imagepipe.target import Target


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich would exit 1 here; the reader (`| head`) has what it wanted, and the
        # error boundary (imagepipe.cli.run) makes that exit 0.
        raise BrokenPipeError


def console() -> Console:
    """Tables and results: stdout. Wide enough not to fold keys when piped."""
    # rich uses 80 columns when stdout is not a terminal; tables of keys and ARNs fold
    # badly in 80, and a pipe has no width anyway. COLUMNS still wins, as in rich.
    width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160
    return _Console(file=sys.stdout, highlight=False, soft_wrap=False, width=width)


def markup(template: str, /, *args: object, **data: object) -> Text:
    """`template` in rich markup (our styles) with str.format fields filled from `args`
    and `data` as plain text: a str is never read as markup or emoji codes, a Text
    (status, link) keeps its styles and takes on the template's around it."""
    # Each field becomes one private-use character in the markup; after parsing, the
    # data takes its place and the template's spans are moved to match, so the styles
    # (and the terminal's escape codes) are the ones the template alone would give.
    # (rich.markup.escape is not exact: a trailing backslash prints doubled, or else
    # escapes a tag that follows.)
    formatter = Formatter()
    marked: list[str] = []
    fields: list[Text] = []
    auto = iter(args)
    for literal, name, spec, conversion in formatter.parse(template):
        marked.append(literal)
        if name is None:
            continue
        value = next(auto) if name == "" else args[int(name)] if name.isdigit() else data[name]
        if not isinstance(value, Text):
            value = formatter.convert_field(value, conversion)
            value = Text(formatter.format_field(value, spec or ""))
        marked.append(_FIELD)
        fields.append(value)
    parsed = Text.from_markup("".join(marked))
    pieces = parsed.plain.split(_FIELD)
    ends = list(accumulate(len(p) + 1 for p in pieces[:-1]))  # just after each field
    grown = list(accumulate((len(f) - 1 for f in fields), initial=0))

    def moved(offset: int) -> int:
        return offset + grown[bisect_right(ends, offset)]

    out = Text("".join(p + f.plain for p, f in zip(pieces, [*fields, Text()], strict=True)))
    out.spans = [Span(moved(s.start), moved(s.end), s.style) for s in parsed.spans]
    for field, end in zip(fields, ends, strict=True):
        at = moved(end) - len(field)
        if field.style:
            out.spans.append(Span(at, at + len(field), field.style))
        out.spans += [s.move(at) for s in field.spans]
    return out


_FIELD = "\ue000"


def cell(value: object) -> Text:
    """A table cell or title that is data: shown as it is, never read as markup."""
    return value if isinstance(value, Text) else Text(str(value))


def title(template: str, /, *args: object) -> Text:
    """A table title with data in it, styled as rich styles a str title."""
    text = markup(template, *args)
    text.style = "table.title"
    return text


def progress_console() -> Console:
    """Progress bars and spinners: stderr, so stdout stays the result."""
    return _Console(file=sys.stderr, highlight=False)


def progress(*, transfer: bool = False, enabled: bool = True) -> bars.Progress:
    """A progress bar on stderr: bytes and speed (`transfer`), else done/total and time."""
    # Descriptions name keys: plain text, not markup.
    description = bars.TextColumn("{task.description}", markup=False)
    columns = [bars.SpinnerColumn(), description, bars.BarColumn()]
    if transfer:
        columns += [bars.DownloadColumn(), bars.TransferSpeedColumn()]
    else:
        columns += [bars.TextColumn("{task.completed}/{task.total}"), bars.TimeElapsedColumn()]
    return bars.Progress(*columns, console=progress_console(), disable=not enabled)


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False, default=str), flush=True)


def emit(args: Any, result: Any, show: Callable[..., None], con: Console | None = None) -> None:
    """A command's result: with --json its document, else drawn by `show(console, result)`."""
    if args.json:
        print_json(result.to_dict())
    else:
        show(con or console(), result)


def size(n: int | None) -> str:
    """Bytes, decimal: 999 B, 1.0 kB, 2.5 MB."""
    if n is None:
        return "-"
    if n < 1000:
        return f"{n} B"
    value = n / 1000
    for unit in ("kB", "MB"):
        if value < 999.95:  # what rounds to 1000.0 is shown in the next unit
            return f"{value:,.1f} {unit}"
        value /= 1000
    return f"{value:,.1f} GB"


def plural(count: int, word: str) -> str:
    """`1 execution`, `2 executions`."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.2f} s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes}m{rest:02d}s"


def moment(value: datetime | None, short: bool = False) -> str:
    """A local wall-clock time, to the second (short: without the year)."""
    if value is None:
        return "-"
    return value.astimezone().strftime("%m-%d %H:%M:%S" if short else "%Y-%m-%d %H:%M:%S")


STATUS_COLOURS = {"SUCCEEDED": "green", "RUNNING": "yellow"} | dict.fromkeys(FAILED_STATUSES, "red")


def status(value: str) -> Text:
    text = Text(value)
    text.stylize(STATUS_COLOURS.get(value, "white"))
    return text


def link(con: Console, url: str | None, text: str) -> Text:
    """A hyperlink in a terminal; piped, the text alone (print the URL where it can be
    copied)."""
    shown = Text(text)
    if url and con.is_terminal:
        shown.stylize(Style(link=url))
    return shown


def console_line(con: Console, target: Target, arn: str) -> None:
    """Where to see an execution: its console page, or its ARN where there is none."""
    url = target.console_url(arn)
    con.print(markup("Console: {}", url) if url else markup("ARN: {}", arn), soft_wrap=True)


def rendition_lines(renditions: Iterable[Mapping[str, Any]], indent: str = "") -> str:
    """Key, pixel size and bytes of each rendition, in aligned columns, then its public
    URL where the stack serves it."""
    rows = list(renditions)
    if not rows:
        return "-"
    keys = max(len(str(r["key"])) for r in rows)
    return "\n".join(
        f"{indent}{r['key']!s:<{keys}}  {str(r['width']) + 'x' + str(r['height']):>9}  "
        f"{size(r['bytes']):>8}" + (f"  {r['url']}" if r.get("url") else "")
        for r in rows
    )
