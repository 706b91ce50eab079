"""Text clean-up at the edge: one canonical form for every channel, and e-mails cut to the new part.

:func:`normalize_text` does, in order:

1. E-mail only: HTML (a document, or at least two tags such as ``<p>``, ``<br>``,
   ``<div>``) becomes text with inscriptis.
2. Unicode NFKC. Besides folding full-width Latin letters and digits
   (``"ｉＰｈｏｎｅ１５"`` → ``"iPhone15"``), NFKC turns full-width Chinese
   punctuation into its ASCII form (``"，"`` → ``","``, ``"："`` → ``":"``, ``"？"``
   → ``"?"``) and ``"…"`` into ``"..."``; the ideographic full stop ``"。"`` stays.
   That is intended: one form for the tokenizer and the search index.
3. HTML entities left in plain text (``&amp;`` in tweets) are decoded (not in
   text rendered from HTML, where inscriptis has decoded them already).
4. Line breaks become ``"\\n"``; control characters other than newline and tab, and
   invisible format characters (zero-width space, BOM, soft hyphen, bidi marks;
   zero-width joiners are kept for emoji), are removed.
5. Runs of spaces and tabs become one space, lines are stripped, at most one
   blank line is kept in a row, and the text is stripped.
6. E-mail only: the quoted history and the signature are removed (below).
7. Over ``budget_chars``, the text keeps its head (2/3) and tail (1/3) joined by
   :data:`ELLIPSIS` (:func:`truncate_text`).

E-mail history is cut at the first reply header that mail-parser-reply knows
(``On … wrote:``, ``-----Original Message-----``, Outlook ``From:/Sent:/To:``
blocks in English, German, French, Spanish, Italian, Dutch, Japanese, Korean and
Chinese ``发件人:/发送时间:/收件人:``), or at one of the rules added here for what it
misses: Chinese attributions (``在 2026年1月5日 09:18,张三 <a@b.cn> 写道:``, where
NFKC has already made the colon ASCII), ``-----原始邮件-----`` and QQ Mail's
``------------------ Original ------------------``, and a lone ``From:``/``发件人:``
line with an address. Lines quoted with ``>`` are dropped. mail-parser-reply's
own signature rules are not used: they cut at any line starting with
``Thanks,`` or ``- item`` and lose the customer's words. Instead a signature is
taken off only at the end of the reply: after a ``--`` line, a mobile footer
(``Sent from my iPhone``, ``发自我的iPhone``), or a closing such as ``Best
regards,`` / ``谢谢`` / ``此致`` followed by at most four short lines.

Nothing is ever emptied by the e-mail rules: when the signature rule would leave
nothing, the reply is kept with its signature; when the reply itself is empty
(the customer only forwarded a quote), the whole normalized text is kept.

>>> normalize_text("Ｈｅｌｌｏ\\x00   world ,  ｉＰｈｏｎｅ\\n\\n\\n\\nok").text
'Hello world , iPhone\\n\\nok'
>>> email = "Still no refund.\\n\\nSent from my iPhone\\n\\nOn Mon, 5 Jan 2026 at 09:18, "
>>> email += "Shop <care@shop.com> wrote:\\n> Your refund is on its way."
>>> normalize_text(email, channel="email").text
'Still no refund.'
>>> cut = normalize_text("The parcel is late. " * 10 + "Please refund me.", budget_chars=60)
>>> cut.text, cut.truncated, cut.original_chars
('The parcel is late. The parcel is late … . Please refund me.', True, 217)
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections import deque
from dataclasses import dataclass
from typing import Any

from streams.internals import mail_reply_header_regex

__all__ = ["ELLIPSIS", "NormalizedText", "normalize_text", "normalized", "truncate_text"]

#: What joins the head and the tail of a cut text.
ELLIPSIS = " … "
#: Share of the budget given to the head of a cut text; the tail gets the rest.
HEAD_SHARE = 2 / 3
#: How far a cut may move back (head) or forward (tail) to land between words.
_WORD_SLACK = 40


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """A cleaned text and what the cleaning did."""

    text: str
    truncated: bool  # True when cut to the budget
    original_chars: int  # length before cutting (after cleaning)


# --- generic clean-up -------------------------------------------------------------------------

_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# C0/C1 controls other than \t and \n; invisible format characters (ZWSP, word joiner,
# BOM, soft hyphen, bidi marks and isolates). ZWJ/ZWNJ (U+200C/D) stay: emoji need them.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\u00ad\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# Single spaces are left alone: replacing each one by itself costs more than the rest.
_HORIZONTAL_SPACE = re.compile(r" ?(?:\t|  )[ \t]*")
_SPACE_AT_LINE_EDGES = re.compile(r" \n ?|\n ")
_BLANK_LINES = re.compile(r"\n{3,}")
# Characters that _LINE_BREAKS or _INVISIBLE match, and tabs (_HORIZONTAL_SPACE).
_SPACING_CHARS = re.compile(
    "[\r\t\x0b\x0c\x1c-\x1e\x85\u2028\u2029"
    "\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\u00ad\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)


def _needs_spacing_work(text: str) -> bool:
    """Whether one of the five substitutions of :func:`_clean` can change ``text``.

    Each of them matches somewhere exactly when ``text`` holds: a line break other
    than ``\\n`` or an invisible character (one class search), a tab or two spaces
    (_HORIZONTAL_SPACE), a space beside a ``\\n`` (_SPACE_AT_LINE_EDGES), three
    ``\\n`` (_BLANK_LINES). Substring tests are much cheaper than trying the
    patterns at every character, and most texts need none of them.

    >>> _needs_spacing_work("Where is my order?"), _needs_spacing_work("Where  is it?")
    (False, True)
    """
    return (
        "  " in text
        or " \n" in text
        or "\n " in text
        or "\n\n\n" in text
        or _SPACING_CHARS.search(text) is not None
    )


def _unescape(match: re.Match[str]) -> str:
    return html.unescape(match.group())


def _clean(text: str, *, decode_entities: bool = True) -> str:
    """Steps 2-5 of the module docstring (3 is skipped for text rendered from HTML)."""
    text = unicodedata.normalize("NFKC", text)
    if decode_entities and "&" in text:
        text = _ENTITY.sub(_unescape, text)
    if not _needs_spacing_work(text):
        return text.strip()  # none of the five substitutions below would change it
    text = _LINE_BREAKS.sub("\n", text)
    text = _INVISIBLE.sub("", text)
    text = _HORIZONTAL_SPACE.sub(" ", text)
    text = _SPACE_AT_LINE_EDGES.sub("\n", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


# --- HTML e-mails ---------------------------------------------------------------------------

_HTML_DOCUMENT = re.compile(r"<(?:!doctype\s+html|html|body)\b", re.IGNORECASE)
_HTML_TAG = re.compile(
    r"</?(?:p|br|div|span|table|tbody|tr|td|th|blockquote|a|b|i|u|em|strong|font|ul|ol|li"
    r"|h[1-6]|img|hr|pre|center|head|meta|style|title)\b[^<>]{0,2000}>",
    re.IGNORECASE,
)


def _looks_like_html(text: str) -> bool:
    """An HTML document, or at least two HTML tags (one stray ``<b>`` is not HTML)."""
    if "<" not in text:
        return False
    if _HTML_DOCUMENT.search(text):
        return True
    tags = _HTML_TAG.finditer(text)
    return next(tags, None) is not None and next(tags, None) is not None


def _html_to_text(text: str) -> str:
    from inscriptis import get_text

    return str(get_text(text))


# --- e-mail history and signatures ----------------------------------------------------------

#: Languages whose reply headers mail-parser-reply recognizes for us. Polish is left
#: out: it takes a single ``Data:`` or ``Do:`` line for a header.
_MAIL_LANGUAGES = ("en", "zh", "de", "fr", "es", "it", "nl", "ja", "ko")

# Rules for what mail-parser-reply misses, on text that is already NFKC (ASCII colons).
_EXTRA_HEADER = re.compile(
    # Chinese attribution (Gmail, Apple Mail): 在 2026年1月5日 09:18,张三 <a@b.cn> 写道:
    # or 张三 <a@b.cn> 于2026年1月5日周一 09:18写道:  -- one line, with a date in it.
    r"^(?=[^\n]{0,300}\d)[^\n]{0,300}写道[ \t]*:[ \t]*$"
    # Separators: -----原始邮件----- / ----- Original ----- (QQ Mail) / 原始信件.
    r"|^[ \t]*-{2,}[ \t]*(?:原始邮件|原始信件|Original|Original Message)[ \t]*-{2,}[ \t]*$"
    # A lone From:/发件人: line that names an address.
    r"|^[ \t]*(?:From|发件人)[ \t]*:[^\n]{0,200}@[^\n]{0,200}$",
    re.MULTILINE | re.IGNORECASE,
)
#: Longest line prefix that reply headers are looked for in.
_HEADER_LINE_CHARS = 200
_QUOTED_LINE = re.compile(r"^[ \t]*>[^\n]*(?:\n|$)", re.MULTILINE)
_RULE_LINE = re.compile(r"[ \t]*[-_=*~]{3,}[ \t]*")

_SIGNATURE_DELIMITER = re.compile(r"^--[ \t]*$", re.MULTILINE)
_DEVICE = (
    r"(?:iPhone|iPad|iPod|Android|Samsung|Galaxy|Huawei|HUAWEI|Honor|Xiaomi|Redmi|Pixel|OnePlus"
    r"|OPPO|vivo|BlackBerry|Windows|Mac|mobile|phone|smartphone|tablet|Verizon|T-Mobile"
    r"|华为|荣耀|小米|红米|三星|一加|魅族|手机|安卓|平板)"
)
_MOBILE_FOOTER = re.compile(
    rf"^(?:Sent from my (?:[\w&'-]+ ){{0,3}}{_DEVICE}[^\n]{{0,40}}"
    r"|Sent from (?:Mail|Outlook|Yahoo Mail|Gmail|AOL Mail)\b[^\n]{0,40}"
    r"|Sent (?:via|with) (?:BlackBerry|Spark|Superhuman|Proton ?Mail|Blue ?Mail|Airmail)\b"
    r"[^\n]{0,30}"
    r"|Get Outlook for [^\n]{1,30}"
    rf"|(?:发自|来自|从)我的[^\n]{{0,8}}{_DEVICE}[^\n]{{0,20}}"
    r"|发自(?:网易邮箱大师|网易邮箱|QQ邮箱|手机QQ邮箱|企业微信|钉钉|Outlook|iPhone|iPad|Android)[^\n]{0,20}"
    r"|发送自\s?(?:Windows|iPhone|iPad|Android|Outlook|Mail|邮件|网易|QQ|华为|小米)[^\n]{0,30})$",
    re.MULTILINE | re.IGNORECASE,
)
_CLOSING = re.compile(
    r"^(?:(?:with )?(?:best |kind |warm |warmest |many )?regards|best wishes|best|cheers|sincerely"
    r"|yours (?:sincerely|truly|faithfully)|sincerely yours|respectfully|all the best"
    r"|thanks(?: again| in advance| so much)?|thank you(?: again| in advance| so much)?"
    r"|many thanks|thx|br|kr|take care"
    r"|谢谢|谢谢您|多谢|感谢|此致|此致敬礼|祝好|顺祝商祺|顺颂商祺|祝商祺|敬礼|祝工作顺利|祝一切顺利)"
    # optional punctuation, optionally a capitalized name on the same line ("Thanks, Anna")
    r"[ \t]*[,.!。~]*(?:[ \t]*(?-i:[A-Z][\w.'-]{0,20}(?: [A-Z][\w.'-]{0,20}){0,2}))?[ \t]*$",
    re.MULTILINE | re.IGNORECASE,
)
#: A closing may be followed by at most this many lines (name, title, company, phone).
_SIGNATURE_MAX_LINES = 4
_SIGNATURE_MAX_LINE_CHARS = 60
#: Closing lines in a row that are taken off together (此致 / 敬礼!).
_CLOSING_MAX_LINES = 3
#: A ``--`` line starts a signature only when at most this many lines follow it.
_DELIMITED_MAX_LINES = 15


@functools.cache
def _reply_header_regex() -> Any:
    """mail-parser-reply's compiled header regex for :data:`_MAIL_LANGUAGES`, built once."""
    return mail_reply_header_regex(_MAIL_LANGUAGES)


def _library_header_start(text: str) -> int | None:
    """Where mail-parser-reply's first reply header starts, tried at each line start.

    Its patterns (``On <lazy .+?, twice> wrote:``) take time quadratic in the length of
    the lines they look at, and searching them at every character costs about
    0.75 µs a character. Headers start lines and are short, so they are matched at
    line starts only (and only where a colon follows within two lines), on a view
    where every line is cut to :data:`_HEADER_LINE_CHARS`.
    """
    regex = _reply_header_regex()
    lines = text.split("\n")
    cap = _HEADER_LINE_CHARS
    view = "\n".join(line[:cap] for line in lines) if len(text) > cap else text
    # Every header has a colon in its first two lines ("wrote:", "From: ...").
    has_colon = [":" in line[:cap] for line in lines]
    has_colon.append(False)
    in_view = in_text = 0
    for index, line in enumerate(lines):
        if (
            line
            and (has_colon[index] or has_colon[index + 1])
            and regex.match(view, in_view) is not None
        ):
            return in_text
        in_view += min(len(line), cap) + 1
        in_text += len(line) + 1
    return None


def _cut_history(text: str) -> str:
    """The text above the first reply header, without ``>`` lines."""
    cut = _library_header_start(text)
    if cut is None:
        cut = len(text)
    extra = _EXTRA_HEADER.search(text, 0, cut)
    if extra is not None:
        cut = extra.start()
    reply = text[:cut]
    if ">" in reply:
        reply = _QUOTED_LINE.sub("", reply)
    return _drop_trailing_rules(reply)


def _drop_trailing_rules(text: str) -> str:
    """``text`` stripped, without the ``-----`` / ``_____`` lines it ends with."""
    end = len(text.rstrip())
    while end:
        start = text.rfind("\n", 0, end) + 1
        if _RULE_LINE.fullmatch(text, start, end) is None:
            break
        end = start
        while end and text[end - 1].isspace():
            end -= 1
    return text[:end].strip()


def _last_match(pattern: re.Pattern[str], text: str, end: int) -> re.Match[str] | None:
    last = deque(pattern.finditer(text, 0, end), maxlen=1)
    return last[0] if last else None


def _cut_signature(text: str) -> str:
    """The reply without a signature at its end; unchanged when none is found."""
    cut = len(text)
    delimiter = _last_match(_SIGNATURE_DELIMITER, text, cut)
    if delimiter is not None and text.count("\n", delimiter.end()) <= _DELIMITED_MAX_LINES:
        cut = delimiter.start()
    footer = _MOBILE_FOOTER.search(text, 0, cut)
    if footer is not None:
        cut = footer.start()
    closing = _last_match(_CLOSING, text, cut)
    if closing is not None:
        after = text[closing.end() : cut].strip()
        lines = after.splitlines() if after else []
        if len(lines) <= _SIGNATURE_MAX_LINES and all(
            len(line) <= _SIGNATURE_MAX_LINE_CHARS for line in lines
        ):
            cut = closing.start()
            # Closings come in pairs: 此致 / 敬礼!, "Thanks again," / "Best,".
            for _ in range(_CLOSING_MAX_LINES - 1):
                earlier = _last_match(_CLOSING, text, cut)
                if earlier is None or text[earlier.end() : cut].strip():
                    break
                cut = earlier.start()
    return _drop_trailing_rules(text[:cut])


def _strip_email(text: str) -> str:
    reply = _cut_history(text)
    if not reply:
        return text
    without_signature = _cut_signature(reply)
    return without_signature or reply


# --- budget ---------------------------------------------------------------------------------


def truncate_text(text: str, budget_chars: int) -> tuple[str, bool]:
    """Cut ``text`` to at most ``budget_chars`` characters, keeping its head and tail.

    The head gets 2/3 of the budget and the tail the rest, joined by
    :data:`ELLIPSIS`; each cut moves to the nearest space within a few characters
    so that words stay whole. Returns the text and whether it was cut.

    >>> truncate_text("one two three four five six seven eight nine ten", 30)
    ('one two three four … nine ten', True)
    >>> truncate_text("short", 30)
    ('short', False)
    """
    if budget_chars < 1:
        raise ValueError(f"budget_chars must be positive, not {budget_chars}")
    if len(text) <= budget_chars:
        return text, False
    room = budget_chars - len(ELLIPSIS)
    if room < 2:
        return text[:budget_chars], True
    head_chars = max(1, int(room * HEAD_SHARE))
    tail_chars = room - head_chars
    head = text[:head_chars]
    if text[head_chars].isalnum() and text[head_chars - 1].isalnum():  # the cut splits a word
        lowest = max(0, head_chars - _WORD_SLACK)
        space = max(head.rfind(" ", lowest), head.rfind("\n", lowest))
        if space > 0:
            head = head[:space]
    tail_start = len(text) - tail_chars
    tail = text[tail_start:]
    if tail and tail[0].isalnum() and text[tail_start - 1].isalnum():  # same, forward
        ends = (tail.find(" ", 0, _WORD_SLACK), tail.find("\n", 0, _WORD_SLACK))
        found = [i for i in ends if i >= 0]
        if found and min(found) < len(tail) - 1:
            tail = tail[min(found) + 1 :]
    return head.rstrip() + ELLIPSIS + tail.lstrip(), True


# --- entry point ----------------------------------------------------------------------------


def normalize_text(
    text: str, *, channel: str = "other", budget_chars: int | None = 8000
) -> NormalizedText:
    """Clean ``text`` (see the module docstring); e-mails also lose history and signature.

    ``budget_chars=None`` means no cut (the caller cuts later, e.g. after redaction).

    >>> normalize_text("  Where\\tis   my   order?  ")
    NormalizedText(text='Where is my order?', truncated=False, original_chars=18)
    >>> normalize_text("你好，请问：退款到了吗？").text
    '你好,请问:退款到了吗?'
    """
    cleaned = normalized(text, channel=channel)
    if budget_chars is None:
        return NormalizedText(cleaned, False, len(cleaned))
    kept, truncated = truncate_text(cleaned, budget_chars)
    return NormalizedText(kept, truncated, len(cleaned))


def normalized(text: str, *, channel: str = "other") -> str:
    """The text of ``normalize_text(text, channel=channel, budget_chars=None)``.

    >>> normalized("  Where\\tis   my   order?  ")
    'Where is my order?'
    """
    is_email = channel.lower() == "email"
    from_html = is_email and _looks_like_html(text)
    if from_html:
        text = _html_to_text(text)
    cleaned = _clean(text, decode_entities=not from_html)
    if is_email and cleaned:
        cleaned = _strip_email(cleaned)
    return cleaned
