"""PII redaction for customer communications in English and Chinese.

Pure code, no I/O: every detector is compiled once at import (or once per
:class:`Redactor`), so a redactor can be built at start-up and shared by every
message of a stream.

Five kinds of personal data are found and each found value is replaced by a
placeholder naming its type (``[EMAIL]``, ``[PHONE]``, ...):

``EMAIL``
    addresses with an ASCII local part (plus-addressing, sub-domains, IDN TLDs).
``PHONE``
    phone numbers found by :class:`phonenumbers.PhoneNumberMatcher` in each of
    the configured regions (international ``+``/``00`` formats, national formats
    such as ``(415) 555-0132`` or ``020 7946 0958``, Chinese mobiles without a
    prefix, also inside Chinese text with no spaces around them), country codes
    written without ``+`` (``(852) 6123 4578``, ``852-6123 4578``; Hong Kong, Macau
    and Taiwan whatever the regions), Chinese landlines with an extension after
    a dash (``0769-2783 1190-12``) and service numbers written with separators
    (``400-569-1172``), also with a phone word glued to them (``mobile13185432202``).
    A number of the right length that is not valid (a local number without its area
    code, an unassigned or fictional range) is taken when it is written like a phone
    number: with a bracketed area or country code (``(555) 555-0193``), or with words
    that say it is one ("phone on file 555-0119", "call me at ...", "my number ...",
    "我的号码是", "... is my phone number", "with the country code").
``CARD``
    13-19 digit payment card numbers, plain or grouped with single spaces or
    dashes, that pass the Luhn check and start like a card (2-series 22-27, 3-6).
``CN_ID``
    18-character resident identity numbers, whole or in groups with single spaces
    (``440106 20010604 3693``, ``440106 2001 0604 3693``), with the GB 11643-1999
    check character and a real birth date not after today nor more than 120 years
    before it (today read when checked, not at import).
``IBAN``
    with or without spaces, any case, the length known for its country and a
    valid checksum (schwifty, with a plain ISO 7064 mod-97 fallback).

The detectors run from the most specific to the least specific, each on the
text with the values found before it masked: emails first; then IBANs, resident
IDs and cards, overlaps among these resolved by "longest match wins, then the
more specific type" (IBAN, CN_ID, CARD); then phones, so a phone number never
eats half of an IBAN, an ID number or a card. Masks look like placeholders
(``[...]``), which keeps redaction idempotent. Values of a type that is not enabled
are still detected (they shield their digits from the phone pass) but left
untouched in the output.

Numbers that are not personal data are left alone: dates, times, prices,
percentages, version numbers, years, short numbers, and order, invoice or
tracking numbers (letter-prefixed ones such as ``SF1234567890`` by the detectors
themselves, or glued to a word by a dash or a slash: ``INV-20260105``,
``REF/2025/118832``; purely numeric ones when a keyword such as "order no.", "IMEI"
(also numbered, "IMEI1") or "运单号" comes right before them, a plain run of digits
also in a list after one or a few words after it: "parcels 9123456780 and
9876543210", "the order number for the kettle is 9123456780", "the IMEI of my phone
is ..."; in Chinese, a noun and 号 name the number of a thing: "户号", "学生证号",
"燃气卡号", "宽带账号", not "电话号", "手机号", "我的号"). A name only makes an
identifier of what is personal data anyway when it names a thing: a Luhn-valid
card number is a card and an 11-digit Chinese mobile a phone even when called an
account, member or membership number ("账号", "会员号", "交易卡号"), and a number
written with a bracketed area code or called a phone after it is a phone whatever
precedes it.
The name of a thing also keeps an 18-digit number that reads as a resident ID
("订单号", "保单号").

>>> redactor = Redactor()
>>> result = redactor.redact("Mail jane.doe+shop@example.co.uk or call +44 20 7946 0958.")
>>> result.text
'Mail [EMAIL] or call [PHONE].'
>>> result.counts
{'EMAIL': 1, 'PHONE': 1}
>>> redactor.redact("我的电话13812345678，订单号C44651，2026年1月5日付款¥1299.00").text
'我的电话[PHONE]，订单号C44651，2026年1月5日付款¥1299.00'
>>> Redactor(["CARD"]).redact("Card 4111 1111 1111 1111, order 4111 1111 1111 1112").text
'Card [CARD], order 4111 1111 1111 1112'
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from itertools import chain
from typing import Final

import phonenumbers
from schwifty import IBAN as SchwiftyIBAN
from schwifty import registry as iban_registry
from schwifty.exceptions import SchwiftyException

from streams.check_digits import cn_id_check_char, iban_ok, luhn_ok

__all__ = ["PII_TYPES", "Redaction", "Redactor"]

PII_TYPES: tuple[str, ...] = ("EMAIL", "PHONE", "CARD", "CN_ID", "IBAN")
"""Every type a :class:`Redactor` can find, also the order of :attr:`Redaction.counts`."""

DEFAULT_PHONE_REGIONS: Final[tuple[str, ...]] = ("US", "GB", "CN", "DE", "FR", "IN")

# Overlap tie-break, after length: the more specific detector wins.
_PRIORITY: Final[dict[str, int]] = {"EMAIL": 0, "IBAN": 1, "CN_ID": 2, "CARD": 3, "PHONE": 4}
_PLACEHOLDERS: Final[dict[str, str]] = {kind: f"[{kind}]" for kind in PII_TYPES}

# --------------------------------------------------------------------------- normalization
# A length-preserving (one character for one character) fold of full-width ASCII
# (U+FF01-FF5E), the ideographic and no-break spaces and Unicode dashes, so that
# "１３８１２３４５６７８" or "ａｂｃ＠ｘ．ｃｏｍ" are found and offsets stay valid.
_FOLD: Final[dict[int, int]] = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FOLD.update({0x3000: 0x20, 0x00A0: 0x20, 0x2212: 0x2D})
_FOLD.update({code: 0x2D for code in range(0x2010, 0x2016)})

_ANY_DIGIT: Final = re.compile(r"[0-9\uff10-\uff19]")
_NON_DIGITS: Final = re.compile(r"[^0-9]+")

# --------------------------------------------------------------------------- EMAIL
_ATEXT: Final = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_EMAIL: Final = re.compile(
    rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})"
)
# The same, starting only where a dot-atom can start (not after a local-part
# character, nor after one and a dot): linear time even on long runs such as
# "a.a.a.a...", and the longest local part.
_EMAIL_AT_RUN: Final = re.compile(rf"(?<![{_ATEXT}])(?<![{_ATEXT}]\.)" + _EMAIL.pattern)

# --------------------------------------------------------------------------- IBAN
# Country code, check digits, then the BBAN in groups of four (optionally spaced).
# The match may run into a following word ("BE68 5390 0754 7034 from"): the
# country's registered length decides where the IBAN ends.
_IBAN: Final = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,4})?"
    r"(?![A-Za-z0-9])"
)

# Two letters and two digits, which every _IBAN match starts with: the search starts at
# digits only, so it rules out most texts faster than _IBAN itself.
_IBAN_START: Final = re.compile(r"[0-9][0-9](?<=[A-Za-z]{2}[0-9]{2})")

# --------------------------------------------------------------------------- CN_ID
# Written whole or in groups with single spaces: region, birth date, sequence and check
# ("440106 20010604 3693"), or the birth date split too, as a card is written ("440106
# 2001 0604 3693").
_CN_ID: Final = re.compile(
    r"(?<![0-9A-Za-z])[1-8][0-9]{5}"
    r"(?:( ?)(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])\1"
    r"| (?:19|20)[0-9]{2} (?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]) )"
    r"[0-9]{3}[0-9Xx](?![0-9A-Za-z])"
)
_MAX_AGE_YEARS: Final = 120  # a birth date further back is not a living person's
# 18 digits laid out like an ID number (region, birth date) are not read as a card
# even when the ID check character is wrong: that is a mistyped ID, not a card.
_CN_ID_LAYOUT: Final = re.compile(
    r"[1-8][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{4}"
)

# --------------------------------------------------------------------------- CARD
# Issuer prefixes in use: 2-series Mastercard/Mir (22-27), Amex/Diners/JCB (3),
# Visa (4), Mastercard/Maestro (5), Discover/UnionPay/Maestro (6). Not after a
# "+" (a phone), nor glued to an identifier ("INV-...", "INV4..."; checked with
# _CARD_WORD_GLUED after the match, as a card keyword may be glued to it).
_CARD: Final = re.compile(
    r"(?<![0-9+])(?<![0-9A-Za-z][-_/])"
    r"(?:(?:2[2-7]|[3-6][0-9])[0-9]{11,17}"
    r"|(?:2[2-7]|[3-6][0-9])[0-9]{2}([ -])[0-9]{3,6}(?:\1[0-9]{3,6}){1,3})"
    r"(?![0-9A-Za-z])"
)
_MIN_CARD_DIGITS: Final = 13
_CN_ID_DIGITS: Final = 17  # and a check character, a digit or X

# --------------------------------------------------------------------------- PHONE
# Where phonenumbers is worth running: runs of digits with at most four phone
# separators between two digits. Each window (plus a little context either side
# for the matcher's own checks) is handed to PhoneNumberMatcher, not the whole text.
_PHONE_WINDOW: Final = re.compile(r"[0-9](?:[ \-./()\[\]~]{0,4}[0-9])*")
_WINDOW_CONTEXT: Final = 4
_MIN_PHONE_DIGITS: Final = 7
_MIN_INTERNATIONAL_DIGITS: Final = 10  # country code included, for unassigned "+" numbers
_CN_MOBILE_SHAPE: Final = re.compile(r"1[3-9][0-9]{9}")
# A date set apart by spaces (or the ends) inside such a run: "2026/01/05 13812345678".
_DATE_IN_STRETCH: Final = re.compile(
    r"(?<![^ ])(?:(?:19|20)[0-9]{2}([-/.])[0-9]{1,2}\1[0-9]{1,2}"
    r"|[0-9]{1,2}([-/.])[0-9]{1,2}\2(?:19|20)[0-9]{2})(?![^ ])"
)
_NOT_A_PHONE_STRETCH: Final = re.compile(
    r"(?:19|20)[0-9]{2}([-/.])[0-9]{1,2}\1[0-9]{1,2}(?: [0-9]{1,2})?"
    r"|[0-9]{1,2}([-/.])[0-9]{1,2}\2(?:19|20)[0-9]{2}(?: [0-9]{1,2})?"
    r"|[0-9]{1,3}(?:\.[0-9]{1,3}){3}"
)
# Numbers right after one of these words are identifiers, not phone numbers or cards
# ("order 4155550132", "case 2026011788", "运单号：75318264950213", not "in case ...").
# Word edges are ASCII letters and digits, not \b: Python's \b sees CJK characters as
# word characters, so "手机IMEI 35..." would not start a word at "IMEI".
_WORD_START: Final = r"(?<![A-Za-z0-9])"
_WORD_END: Final = r"(?![A-Za-z0-9])"
# A single digit glued to a keyword numbers one of several things ("IMEI1: ... IMEI2: ..."),
# it does not start the number.
_INDEX: Final = r"[1-9]?"
# Identifiers of things, never of a person: they hide any number, a Chinese mobile and
# a card included (a carrier's name before a number makes it a parcel number).
_THING_WORDS: Final = (
    rf"{_WORD_START}(?:orders?|tracking|invoices?|inv|waybills?|awb|tickets?|ref|reference|"
    r"transactions?|txn|serial|sku|sn|s/n|po|routing|upc|ean|isbn|imei|meid|iccid|(?<!in )cases?|"
    rf"parcels?|packages?|shipments?|consignments?|dhl|ups|fedex|usps|tnt){_INDEX}{_WORD_END}"
    r"|订单|訂單|运单|運單|单号|單號|快递|快遞|物流|包裹|发票|發票|工单|工單|流水|交易|"
    r"序列号|序列號|保单|保單|合同|税号|稅號|顺丰|順豐|中通|圆通|圓通|申通|韵达|韻達"
)
# The same with a "no."/"number"/"#" after them ("policy no. 88012345").
_THING_WEAK_WORDS: Final = (
    rf"{_WORD_START}(?:track|model|receipt|booking|confirmation|claim|policy|contract|company|"
    rf"registration|vat|tax){_WORD_END}"
)
# Identifiers a person is known by: they hide numbers that are neither a Chinese
# mobile nor a card, which stay personal data whatever they are called ("member no.
# 138...", "会员号是152...", a debit card given as the "account number").
_PERSON_WORDS: Final = r"会员|會員|编号|編號"
_PERSON_WEAK_WORDS: Final = rf"{_WORD_START}(?:member|membership|loyalty|account){_WORD_END}"
_MARK_WORDS: Final = rf"{_WORD_START}(?:no|nos|nr|num|number|numbers|id|code|ref){_WORD_END}\.?"
_MARKS: Final = rf"{_MARK_WORDS}|[#№]|单号|编号|号码|代码|号|號|码|碼"
# For a card, "卡号" (card number) names what it is: "交易卡号6216..." is a card.
_CARD_ID_MARK: Final = rf"(?:{_MARKS})"
_ID_MARK: Final = rf"(?:卡号|{_MARKS})"
_ID_REST: Final = rf"\s*(?:{_WORD_START}(?:is|was|are|were){_WORD_END}|[=:为是])?\s*[#№]?\s*"
# Further numbers of a list after the first ("parcels 9881... and 9881...").
_ID_LIST: Final = r"(?:[0-9][0-9 -]{4,}[0-9]\s*(?:[,、&/]|和|及|与|and)\s*)*"
# A few English words between the identifier and its number ("the order number for
# the blender is 8529280897"), none of which says the number is a way to reach someone.
_ID_GAP: Final = (
    r"(?:\s+(?!(?:phone|telephone|tel|mobile|cell|cellphone|contact|call|reach|number|"
    r"numbers|no|whatsapp|wechat|fax|landline|ext|extension)(?![A-Za-z]))[A-Za-z']+){1,5}"
    rf"\s+(?:is|was|are|were){_WORD_END}\s*:?\s*"
)
# A card or a resident ID number is hidden by the name of a thing written right before it
# ("order no. 4111...", "订单号440305...", "保单号310115...").
_THING_ID_CONTEXT: Final = re.compile(
    rf"(?:(?:{_THING_WORDS})(?:\s*{_CARD_ID_MARK})?|(?:{_THING_WEAK_WORDS})\s*{_CARD_ID_MARK})"
    rf"{_ID_REST}$",
    re.IGNORECASE,
)
# A Chinese mobile number is hidden by the name of a thing only, written right before it
# (11-digit order numbers starting with 1 are common: "京东订单号16512697330").
_MOBILE_ID_CONTEXT: Final = re.compile(
    rf"(?:(?:{_THING_WORDS})(?:\s*{_ID_MARK})?|(?:{_THING_WEAK_WORDS})\s*{_ID_MARK}){_ID_REST}$",
    re.IGNORECASE,
)
# A 15-digit number a few words after "IMEI" is that IMEI, not a card nor a phone ("the
# IMEI of the phone I sent in is 35...", Luhn-valid with a card's prefix), unless one of
# the words says it is a card.
_IMEI_DIGITS: Final = 15
_IMEI_CONTEXT: Final = re.compile(
    rf"{_WORD_START}imei{_INDEX}{_WORD_END}(?:\s+(?!(?:card|credit|debit|bank|visa|mastercard|amex|"
    r"payment|account)(?![A-Za-z]))[A-Za-z']+){1,5}"
    rf"\s+(?:is|was){_WORD_END}\s*:?\s*$",
    re.IGNORECASE,
)
# A card keyword may be glued to the number it names ("credit card4360 ..."); any other
# word glued to digits makes an identifier ("INV4111...", "SN3566...").
_CARD_WORD_GLUED: Final = re.compile(
    r"(?<![A-Za-z])(?:(?:credit|debit|bank)?card|visa|amex|mastercard|unionpay)$", re.IGNORECASE
)
# Any other phone-like number by any identifier word or a bare "#" ("#1234567890").
_PHONE_ID_HEAD: Final = (
    rf"(?:(?:{_THING_WORDS}|{_PERSON_WORDS}|[#№])(?:\s*{_ID_MARK})?"
    rf"|(?:{_THING_WEAK_WORDS}|{_PERSON_WEAK_WORDS})\s*{_ID_MARK}){_ID_REST}"
)
_PHONE_ID_CONTEXT: Final = re.compile(rf"{_PHONE_ID_HEAD}$", re.IGNORECASE)
# Chinese names the number of a thing with a noun and 号: "户号", "学生证号", "燃气卡号",
# "宽带账号", "房号", "工号". Not when the noun is a way to reach someone (手机, 电话, 座机,
# 分机, 传真, 热线, 联系, 微信, 来电, 拨号), when a word makes 号 a number in general (我的号,
# 这个号, 新号, 换号, 同号, 小号, 备用号) or a numeral makes it a day or a place (十五号, 一号楼).
_CJK_NUMBER_OF: Final = (
    r"(?<=[\u4e00-\u9fff])(?<![机機话話电電真线線系繫络絡信讯訊拨撥呼的个個这這那此该該新旧舊换換"
    r"原本同小大用一二三四五六七八九十零〇两兩百千几幾])[号號]"
)
# A plain run of digits, not written like a phone number, also in a list after one of
# them, a few words after the name of a thing, or after a Chinese "<thing>号".
_DIGITS_ID_CONTEXT: Final = re.compile(
    rf"{_PHONE_ID_HEAD}{_ID_LIST}$|{_WORD_START}(?:{_THING_WORDS})(?:\s*{_ID_MARK})?{_ID_GAP}$"
    rf"|{_CJK_NUMBER_OF}{_ID_REST}{_ID_LIST}$",
    re.IGNORECASE,
)
# Words that say the number next to them is a phone number: before it, a phone word and a
# few filler words ("phone on file 555-0119", "call me at", "电话是", "拨打"); after it, a
# statement that it is one ("5035550576 is my phone number", "(my cell)", "with the country
# code", "就是我的手机"), not a phone word that goes on to another number ("..., phone 020 ...").
# For such a number phonenumbers' "possible" leniency (the right length for the region) is
# enough, as for a "+" number: a local number without its area code, or one in an unassigned
# or fictional range, is taken. A statement after the number also outweighs an identifier
# keyword before it ("account number 5035550576 is my phone number"). A person's number
# with no other word to say what it numbers is their phone number: "my number 5613 8299",
# "her number is ...", "我的号码是" (not "my order number", "我的会员号码").
_PHONE_CUE_BEFORE: Final = re.compile(
    rf"(?:{_WORD_START}(?:phone|telephone|tel|mobile|cell|cellphone|landline|fax|whatsapp|call|"
    rf"reach|dial|contact|(?:my|our|his|her|their)\s+(?:number|no|nr|num))"
    rf"{_WORD_END}\.?(?:\s+(?:me|us|him|her|them|on|at|is|was|file|record|"
    rf"my|the|our|his|their|no|nr|num|number){_WORD_END}\.?){{0,4}}"
    r"|(?:电话|電話|手机|手機|座机|座機|固话|固話|分机|分機|传真|傳真|热线|熱線|联系方式|聯繫方式|"
    r"联系|联络|聯繫|聯絡|致电|致電|拨打|撥打|打|来电|來電|(?:我|他|她|我们|我們)的?(?:号码|號碼))"
    r"(?:号码|號碼|号|號)?(?:是|为|為)?)"
    r"\s*[:#]?\s*[(\[+]?$",
    re.IGNORECASE,
)
_PHONE_NOUN: Final = (
    r"(?:(?:own|home|work|office)\s+)?(?:phone|mobile|cell|cellphone|telephone|landline)"
    rf"{_WORD_END}"
)
_PHONE_CUE_AFTER: Final = re.compile(
    r"\s*(?:"
    rf"(?:,\s*)?(?:(?:which|that)\s+)?(?:is|was|=)\s*(?:also\s+)?(?:(?:my|our|his|her|their|the)\s+)?"
    rf"{_PHONE_NOUN}"
    rf"|[,(]\s*(?:my|our|his|her|their)\s+{_PHONE_NOUN}|\(\s*{_PHONE_NOUN}"
    r"|,?\s*(?:with|incl\.?|including)\s+(?:the\s+|my\s+)?(?:country|international)\s+"
    r"(?:calling\s+)?code"
    r"|[,(]?(?:就是|也是|是)(?:我|我的|他的|她的|我们的|我們的)?(?:手机|手機|电话|電話|座机|座機)"
    r")(?!\s*(?:number|no\.?|#|号码|號碼|号|號)?\s*(?:(?:is|was)\s|[:为是])?\s*[+(0-9])",
    re.IGNORECASE,
)
_CUE_LOOKBACK: Final = 40  # characters before a number searched for a phone word
_ID_LOOKBACK: Final = 24  # characters before a number searched for its keyword
_DIGITS_ID_LOOKBACK: Final = 80  # and before a plain run of digits (lists, gaps)
_AMOUNT_AFTER: Final = re.compile(
    r"\s*(?:元|块|萬|万|美元|欧元|英镑|(?:rmb|cny|usd|eur|gbp|yuan|dollars?|euros?|pounds?)\b)",
    re.IGNORECASE,
)
# A word glued to a number by a dash, an underscore or a slash makes an identifier of it,
# also of the numbers glued after it the same way ("INV-20260105", "REF/2025/118832",
# "PO-2026-4155550132"), unless it is a phone word (:data:`_PHONE_WORD_GLUED`).
_GLUED_BEFORE: Final = re.compile(r"[A-Za-z][-_/](?:[0-9]+[-_/])*$")
_GLUED_BEFORE_LOOKBACK: Final = 24
# A phone word glued to a number names it as a phone number, as the same word with a space
# would: "mobile13185432202", "Tel-020 7946 0958", "WhatsApp/13812345678".
_PHONE_WORD_GLUED: Final = re.compile(
    r"(?<![A-Za-z])(?:tel|phone|telephone|mobile|mob|cell|cellphone|landline|fax|whatsapp)[-_/]?$",
    re.IGNORECASE,
)
_GLUED_LOOKBACK: Final = 10  # the longest phone word and its separator
_DATE_INSIDE: Final = re.compile(
    r"(?:19|20)[0-9]{2}([-/.])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12][0-9]|3[01])(?![0-9])"
    r"|(?<![0-9])(?:0?[1-9]|[12][0-9]|3[01])([-/.])(?:0?[1-9]|1[0-2]|[12][0-9]|3[01])\2(?:19|20)[0-9]{2}"
)
_DATE_WHOLE: Final = re.compile(
    r"(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])(?:[0-2][0-9][0-5][0-9])?"
)
_IPV4: Final = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_LEADING_INTERNATIONAL: Final = re.compile(r"[(\[]?\+")
# A country calling code written without "+" but set apart, in brackets or before a
# separator: "(852) 6915 4134", "852-6915 4134", "44 20 7946 0958".
_BARE_COUNTRY_CODE: Final = re.compile(r"\(([0-9]{1,3})\) ?|([0-9]{1,3})[ -]")
# Regions often written that way in English and Chinese messages, tried for a window
# that holds their code even when they are not among the configured regions.
_BARE_CODE_REGIONS: Final[dict[str, str]] = {"852": "HK", "853": "MO", "886": "TW"}
_BARE_REGION_CODE: Final = re.compile(r"(?<![0-9+])(?:\((852|853|886)\) ?|(852|853|886)[ -])[0-9]")
# A Chinese landline with its extension after a second dash: "0769-2783 1190-12",
# "010-65529988-302" (phonenumbers reads no extension written that way).
_CN_LANDLINE_EXTENSION: Final = re.compile(
    r"(?<![0-9])(\(?0[1-9][0-9]{1,2}\)?[ -]?[0-9]{3,4}[ -]?[0-9]{4})-[0-9]{1,5}(?![0-9])"
)
_UNPREFIXED_TYPES: Final = frozenset(
    {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    }
)
# Service numbers dialled without a trunk prefix ("400-569-1172", "800-820-8820" in China):
# written with separators, as someone writes a number to call, they are phone numbers too.
_SERVICE_TYPES: Final = frozenset(
    {
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.SHARED_COST,
        phonenumbers.PhoneNumberType.UAN,
    }
)
# An area or country code in brackets opens a number written like a phone number
# ("(503) 555-0139", "(852) 2048 4328"), which no one writes an identifier like.
_BRACKETED_CODE: Final = re.compile(r"\( ?[0-9]{1,4} ?\)")


@dataclass(frozen=True, slots=True)
class Redaction:
    """The outcome of redacting one text.

    ``text`` is the text with every found value replaced by ``"[TYPE]"``;
    ``counts`` has one entry per type found (in :data:`PII_TYPES` order), none
    for types not found, so it is empty when the text had no PII.
    """

    text: str
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    kind: str


class Redactor:
    """Finds and replaces PII; build once, call :meth:`redact` for every message.

    ``types`` selects what is redacted (any of :data:`PII_TYPES`; a single name
    may be passed as a string); ``phone_regions`` are the regions (ISO 3166
    alpha-2, as known to phonenumbers) whose national formats are recognised,
    tried in this order. Numbers written with ``+`` are recognised whatever the
    regions. Raises :class:`ValueError` on an unknown type or region.

    >>> Redactor(["EMAIL"]).redact("a.b@example.com, 13812345678").text
    '[EMAIL], 13812345678'
    >>> Redactor(["SSN"])
    Traceback (most recent call last):
    ...
    ValueError: unknown PII type 'SSN' (known: EMAIL, PHONE, CARD, CN_ID, IBAN)
    """

    __slots__ = ("_cn_first", "_phone", "_regions", "_trunk", "_types")

    def __init__(
        self,
        types: Iterable[str] = PII_TYPES,
        *,
        phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
    ) -> None:
        wanted = [types] if isinstance(types, str) else list(types)
        for kind in wanted:
            if kind not in _PRIORITY:
                raise ValueError(f"unknown PII type {kind!r} (known: {', '.join(PII_TYPES)})")
        self._types: frozenset[str] = frozenset(wanted)
        regions: list[str] = []
        for region in [phone_regions] if isinstance(phone_regions, str) else phone_regions:
            code = region.upper()
            if code not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"unknown phone region {region!r}")
            if code not in regions:
                regions.append(code)
        self._regions: tuple[str, ...] = tuple(regions)
        self._cn_first: tuple[str, ...] = tuple(sorted(regions, key=lambda code: code != "CN"))
        self._trunk: dict[str, str] = {
            region: phonenumbers.ndd_prefix_for_region(region, True) or "" for region in regions
        }
        self._phone: bool = "PHONE" in self._types

    @property
    def types(self) -> frozenset[str]:
        """The types this redactor replaces."""
        return self._types

    @property
    def phone_regions(self) -> tuple[str, ...]:
        """The regions whose national phone formats are recognised, in the order tried."""
        return self._regions

    def redact(self, text: str) -> Redaction:
        """Replace every PII value of the enabled types in ``text`` by its placeholder.

        >>> r = Redactor().redact("IBAN de89 3704 0044 0532 0130 00, ID 11010519491231002X")
        >>> r.text, r.counts
        ('IBAN [IBAN], ID [CN_ID]', {'CN_ID': 1, 'IBAN': 1})
        """
        if not self._types or (
            "@" not in text and "\uff20" not in text and _ANY_DIGIT.search(text) is None
        ):
            return Redaction(text, {})
        # _FOLD maps no ASCII character: an ASCII text is its own fold (isascii is O(1)).
        folded = text if text.isascii() else text.translate(_FOLD)
        # Folded, every digit is ASCII; masking found values only takes digits away, so a
        # text with fewer than a phone number's digits has no phone number to look for.
        digits = _ascii_digits(folded)
        spans = _regex_spans(folded, digits)
        if self._phone and digits >= _MIN_PHONE_DIGITS:
            phones = self._phone_spans(folded, spans)
            if phones:
                spans = _merge(spans, phones)
        return _apply(text, spans, self._types)

    def redact_many(self, texts: Iterable[str]) -> list[Redaction]:
        """:meth:`redact` each text, in order."""
        redact = self.redact
        return [redact(text) for text in texts]

    # ------------------------------------------------------------------ phones
    def _phone_spans(self, folded: str, taken: list[_Span]) -> list[_Span]:
        """Phone numbers in ``folded`` outside the ``taken`` spans (which are masked).

        phonenumbers skips the rest of a run of digits once it took a number out
        of it, so a window that still has digits left after its matches is
        searched again with those matches masked: what a second pass over the
        redacted text would find is found on the first.
        """
        masked = _mask(folded, taken)
        if len(_NON_DIGITS.sub("", masked)) < _MIN_PHONE_DIGITS:
            return []
        found: list[_Span] = []
        pending = _windows(masked, 0, len(masked))
        while pending:
            window = pending.pop()
            lo = window.lo
            spans = []
            for start, end in self._match_window(
                masked[lo : window.hi],
                window.digits,
                window.cn_mobile,
                partial(_phone_cued, masked, window.first, window.last),
            ):
                if _plausible_phone(masked, start + lo, end + lo):
                    spans.append(_Span(start + lo, end + lo, "PHONE"))
            if not spans:
                continue
            spans = _resolve(spans)
            found.extend(spans)
            if sum(_count_digits(masked[span.start : span.end]) for span in spans) < window.digits:
                masked = _mask(masked, spans)
                pending.extend(_windows(masked, window.first, window.last))
        return _resolve(found)

    def _match_window(
        self, window: str, digits: int, cn_first: bool, cued: Callable[[], bool]
    ) -> list[tuple[int, int]]:
        """Phone matches in one window: ``+`` numbers region-free, others per region.

        Regions are tried in order (China first when the window looks like a
        Chinese mobile) until a match covers every digit of the window: the order
        changes only how soon that happens, not what is found. A number that is
        not valid (unassigned, fictional, or a local number without its area
        code) is still taken when it is possible (the right length) and written
        like a phone number: with a "+", with its area or country code in
        brackets, or when ``cued()`` says the words around it call it a phone
        ("phone on file 555-0119"; asked only when nothing valid covers the window).
        """
        matches: dict[tuple[int, int], None] = {}

        def run(region: str, leniency: int) -> bool:
            """Collect the matches; True when one match covers every digit of the window."""
            covered = False
            prefix = self._trunk.get(region, "")
            for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=leniency):
                if _written_in_full(match, prefix):
                    matches[(match.start, match.end)] = None
                    covered = covered or _count_digits(match.raw_string) == digits
            return covered

        # Unknown region "ZZ": only explicitly international numbers parse.
        valid = phonenumbers.Leniency.VALID
        covered = "+" in window and run("ZZ", valid)
        if not covered:
            for region in self._cn_first if cn_first else self._regions:
                if run(region, valid):
                    covered = True
                    break
        if not covered:
            for found in _BARE_REGION_CODE.finditer(window):
                if run(_BARE_CODE_REGIONS[found.group(1) or found.group(2)], valid):
                    covered = True
                    break
        if not covered and "-" in window and "CN" in self._regions:
            for found in _CN_LANDLINE_EXTENSION.finditer(window):
                if _valid_cn_landline(found.group(1)):
                    matches[(found.start(), found.end())] = None
                    covered = covered or _count_digits(found.group()) == digits
        if not covered and "+" in window:
            # An explicit "+<country code>" and enough digits make a phone number even
            # when it is not (yet) assigned, e.g. Ofcom's drama range +44 7700 900xxx.
            kept = list(matches)
            for match in phonenumbers.PhoneNumberMatcher(
                window, "ZZ", leniency=phonenumbers.Leniency.POSSIBLE
            ):
                if (
                    _LEADING_INTERNATIONAL.match(match.raw_string)
                    and _count_digits(match.raw_string) >= _MIN_INTERNATIONAL_DIGITS
                    and all(match.end <= lo or hi <= match.start for lo, hi in kept)
                ):
                    matches[(match.start, match.end)] = None
                    covered = covered or _count_digits(match.raw_string) == digits
        if (
            not covered
            and _digits_outside(window, matches) >= _MIN_PHONE_DIGITS
            and ((is_cued := cued()) or "(" in window)
        ):
            self._possible_matches(window, is_cued, matches)
        return list(matches)

    def _possible_matches(
        self, window: str, cued: bool, matches: dict[tuple[int, int], None]
    ) -> None:
        """Add to ``matches`` the possible numbers written like a phone number.

        With ``cued``, any possible number of seven digits or more (a local number
        included); otherwise one that opens with a bracketed area or country code and
        has ten digits or more. Regions of a bracketed country code first ("(852) 2048
        4328"), then the configured ones, up to the first that adds a match (digits left
        over are searched again as a window of their own); matches that overlap earlier
        ones are left.
        """
        kept = list(matches)
        bare = [
            _BARE_CODE_REGIONS[m.group(1) or m.group(2)] for m in _BARE_REGION_CODE.finditer(window)
        ]
        for region in dict.fromkeys([*bare, *self._regions]):
            added = False
            for match in phonenumbers.PhoneNumberMatcher(
                window, region, leniency=phonenumbers.Leniency.POSSIBLE
            ):
                raw = match.raw_string
                count = _count_digits(raw)
                if (
                    count >= _MIN_PHONE_DIGITS
                    if cued
                    else (
                        _BRACKETED_CODE.match(raw) is not None
                        and count >= _MIN_INTERNATIONAL_DIGITS
                    )
                ) and all(match.end <= lo or hi <= match.start for lo, hi in kept):
                    matches[(match.start, match.end)] = None
                    added = True
            if added:
                return


# --------------------------------------------------------------------------- helpers
def _regex_spans(folded: str, digits: int) -> list[_Span]:
    """The email, IBAN, resident ID and card values in ``folded``, without overlaps.

    Emails come first (an ``@`` address is unambiguous, and a number must not
    take part of one and leave the rest looking like an address); the numeric
    values outside them are resolved by :func:`_resolve`, and searched for again
    with the chosen ones masked until nothing new turns up, so that a value next
    to another one ("...-4111111111111111") is found on the first pass. ``digits`` is
    how many ASCII digits ``folded`` holds (all of its digits, folded).
    """
    emails = _email_spans(folded) if _may_hold_address(folded) else []
    if not digits:
        return emails
    text = _mask(folded, emails)
    spans = emails
    while found := _resolve(_numeric_candidates(text)):
        spans = sorted(spans + found, key=lambda span: span.start)
        text = _mask(text, found)
    return spans


def _numeric_candidates(text: str) -> list[_Span]:
    """Every valid IBAN, resident ID and card in ``text``, overlapping or not."""
    numbers: list[_Span] = []
    for match in _IBAN.finditer(text) if _IBAN_START.search(text) else ():
        end = _iban_end(text, match.start(), match.end())
        if end is not None:
            numbers.append(_Span(match.start(), end, "IBAN"))
    # A resident ID has 17 ASCII digits and a card 13 (checked below): with fewer in the
    # whole text, their searches (the card's is the slowest here) cannot add anything.
    in_text = _ascii_digits(text)
    if in_text < _MIN_CARD_DIGITS:
        return numbers
    for match in _CN_ID.finditer(text) if in_text >= _CN_ID_DIGITS else ():
        start = match.start()
        if _valid_cn_id(match.group().replace(" ", "")) and not _THING_ID_CONTEXT.search(
            text, max(0, start - _ID_LOOKBACK), start
        ):
            numbers.append(_Span(start, match.end(), "CN_ID"))
    for match in _CARD.finditer(text):
        start = match.start()
        value = match.group()
        digits = value.replace(" ", "").replace("-", "")
        if (
            _MIN_CARD_DIGITS <= len(digits) <= 19
            and luhn_ok(digits)
            and not (len(digits) == 18 and _CN_ID_LAYOUT.fullmatch(digits))
            and not (
                start
                and _is_ascii_letter(text[start - 1])
                and not _CARD_WORD_GLUED.search(text, max(0, start - 16), start)
            )
            and not _THING_ID_CONTEXT.search(text, max(0, start - _ID_LOOKBACK), start)
            and not (
                len(digits) == _IMEI_DIGITS
                and _IMEI_CONTEXT.search(text, max(0, start - _DIGITS_ID_LOOKBACK), start)
            )
        ):
            numbers.append(_Span(start, match.end(), "CARD"))
    return numbers


def _ascii_digits(text: str) -> int:
    """How many ASCII digits ``text`` holds (ten C-level counts beat a regex pass)."""
    return sum(map(text.count, "0123456789"))


# The characters that may precede and follow the "@" of an :data:`_EMAIL` match.
_ATEXT_CHARS: Final = frozenset(c for c in map(chr, range(128)) if re.fullmatch(f"[{_ATEXT}]", c))
_DOMAIN_START: Final = frozenset(c for c in map(chr, range(128)) if c.isalnum())


def _may_hold_address(folded: str) -> bool:
    """Whether some ``@`` in ``folded`` has a local-part character before it and a domain
    character after it, as every match of :data:`_EMAIL` has; when none does there is
    no address to look for (a tweet's ``@mention`` has neither).

    >>> _may_hold_address("@united thanks"), _may_hold_address("mail a@b.com")
    (False, True)
    """
    at = folded.find("@")
    while at >= 0:
        if at and folded[at - 1] in _ATEXT_CHARS and folded[at + 1 : at + 2] in _DOMAIN_START:
            return True
        at = folded.find("@", at + 1)
    return False


def _mask(text: str, spans: list[_Span]) -> str:
    """``text`` with each span blanked out as ``[\\0...\\0]``, offsets unchanged.

    Brackets outside, like the placeholder that will replace the span, so later
    detectors see the same neighbours on a first pass as on a redacted text.
    """
    if not spans:
        return text
    parts: list[str] = []
    last = 0
    for span in spans:
        parts.append(text[last : span.start])
        parts.append("[" + "\0" * (span.end - span.start - 2) + "]")
        last = span.end
    parts.append(text[last:])
    return "".join(parts)


def _email_spans(folded: str) -> list[_Span]:
    """Every address, leftmost first; after one, the next may start right at its end.

    ("a@b.coc@d.com" holds two: a match cannot start inside a run of local-part
    characters, except where the previous address ends.)
    """
    spans: list[_Span] = []
    pos = 0
    while True:
        match = None
        if pos:  # right after an address; what precedes will be a placeholder
            match = _EMAIL.match(folded, pos)
            if match is None and folded.startswith(".", pos):
                match = _EMAIL.match(folded, pos + 1)
        if match is None:
            match = _EMAIL_AT_RUN.search(folded, pos)
            if match is None:
                return spans
        start = match.start()
        # A quote that opens the text around an address is not part of it.
        while folded[start] in "'`" and folded[start + 1] not in "@.":
            start += 1
        spans.append(_Span(start, match.end(), "EMAIL"))
        pos = match.end()


def _resolve(spans: list[_Span]) -> list[_Span]:
    """Non-overlapping spans, longest first, then by type priority, then leftmost.

    Kept in start order with bisection, so thousands of spans stay cheap.
    """
    if len(spans) < 2:
        return list(spans)
    chosen: list[_Span] = []
    starts: list[int] = []
    for span in sorted(spans, key=lambda s: (s.start - s.end, _PRIORITY[s.kind], s.start)):
        at = bisect_right(starts, span.start)
        if at and chosen[at - 1].end > span.start:
            continue
        if at < len(chosen) and chosen[at].start < span.end:
            continue
        chosen.insert(at, span)
        starts.insert(at, span.start)
    return chosen


def _merge(taken: list[_Span], extra: list[_Span]) -> list[_Span]:
    """``taken`` plus the ``extra`` spans that overlap none of them, in start order."""
    if not taken:
        return extra
    starts = [span.start for span in taken]
    merged = list(taken)
    for span in extra:
        at = bisect_right(starts, span.start)
        if (at and taken[at - 1].end > span.start) or (at < len(taken) and starts[at] < span.end):
            continue
        merged.append(span)
    merged.sort(key=lambda span: span.start)
    return merged


def _apply(text: str, spans: list[_Span], types: frozenset[str]) -> Redaction:
    """Replace the spans of the enabled types by placeholders and count them."""
    parts: list[str] = []
    tally: dict[str, int] = {}
    last = 0
    for span in spans:
        if span.kind not in types:
            continue
        parts.append(text[last : span.start])
        parts.append(_PLACEHOLDERS[span.kind])
        tally[span.kind] = tally.get(span.kind, 0) + 1
        last = span.end
    if not tally:
        return Redaction(text, {})
    parts.append(text[last:])
    counts = {kind: tally[kind] for kind in PII_TYPES if kind in tally}
    return Redaction("".join(parts), counts)


@dataclass(frozen=True, slots=True)
class _Window:
    """Digit stretches for the phone matcher: ``first``-``last`` with context ``lo``-``hi``."""

    lo: int
    hi: int
    first: int
    last: int
    digits: int
    cn_mobile: bool


def _windows(masked: str, pos: int, endpos: int) -> list[_Window]:
    """The stretches of ``masked[pos:endpos]`` worth a phone match.

    A stretch is a run of digits and phone separators with at least seven digits;
    plain digit runs glued to a letter ("SF1402837465921") or following an
    identifier keyword ("订单号1234567890"), and stretches that are just a date or
    an IP address, are dropped here (phonenumbers or :func:`_plausible_phone` would
    reject them anyway, only later), as are dates set apart inside a stretch
    (:func:`_stretches`). Stretches whose context overlaps are merged,
    and each window keeps a few characters of context for the matcher's checks.
    """
    windows: list[_Window] = []
    for start, end, floor, ceiling in _stretches(masked, pos, endpos):
        value = masked[start:end]
        digits = _count_digits(value)
        if digits < _MIN_PHONE_DIGITS:
            continue
        phone_word = (
            start > 0
            and (masked[start - 1] in "-_/" or _is_ascii_letter(masked[start - 1]))
            and _phone_word_glued(masked, start)
        )
        if digits == len(value) and (
            (start > 0 and _is_ascii_letter(masked[start - 1]) and not phone_word)
            or (end < len(masked) and _is_ascii_letter(masked[end]))
            or _identifier_before(masked, start, end)
        ):
            continue
        if _NOT_A_PHONE_STRETCH.fullmatch(value):
            continue
        # No context before a glued phone word: the matcher drops a number after a letter.
        lo = start if phone_word else max(floor, start - _WINDOW_CONTEXT)
        hi = min(ceiling, end + _WINDOW_CONTEXT)
        cn_mobile = _CN_MOBILE_SHAPE.fullmatch(_NON_DIGITS.sub("", value)) is not None
        if windows and lo <= windows[-1].hi:
            prev = windows[-1]
            windows[-1] = _Window(
                prev.lo, hi, prev.first, end, prev.digits + digits, prev.cn_mobile or cn_mobile
            )
        else:
            windows.append(_Window(lo, hi, start, end, digits, cn_mobile))
    return windows


def _stretches(masked: str, pos: int, endpos: int) -> Iterator[tuple[int, int, int, int]]:
    """The runs of digits and phone separators in ``masked[pos:endpos]``, each as ``(start,
    end, floor, ceiling)``: its bounds and how far its context may reach.

    A date set apart by a space inside a run is cut out of it, with the context of the
    pieces either side kept off its digits: "2026/01/05 13812345678" holds a phone number
    that the matcher, reading the run whole as a date, would not find.

    >>> [masked[a:b] for masked in ["on 2026/01/05 13812345678"] for a, b, *_ in
    ...  _stretches(masked, 0, len(masked))]
    ['13812345678']
    """
    for match in _PHONE_WINDOW.finditer(masked, pos, endpos):
        start, end = match.start(), match.end()
        value = match.group()
        if " " not in value or (dates := _DATE_IN_STRETCH.search(value)) is None:
            yield start, end, 0, len(masked)
            continue
        floor = 0
        piece = start
        for found in chain([dates], _DATE_IN_STRETCH.finditer(value, dates.end())):
            if found.start():
                yield _digit_bounds(
                    masked, piece, start + found.start(), floor, start + found.start()
                )
            floor = piece = start + found.end()
        if piece < end:
            yield _digit_bounds(masked, piece, end, floor, len(masked))


def _digit_bounds(
    masked: str, start: int, end: int, floor: int, ceiling: int
) -> tuple[int, int, int, int]:
    """``masked[start:end]`` trimmed to its first and last digit, with ``floor`` and
    ``ceiling`` (an empty span when it holds no digit)."""
    while start < end and not masked[start].isdigit():
        start += 1
    while end > start and not masked[end - 1].isdigit():
        end -= 1
    return start, end, floor, ceiling


def _digits_outside(window: str, matches: dict[tuple[int, int], None]) -> int:
    """How many digits of ``window`` no match covers."""
    free = bytearray(b"\x01") * len(window)
    for start, end in matches:
        free[start:end] = bytes(end - start)
    return sum(1 for at, ch in enumerate(window) if free[at] and ch.isdigit())


def _phone_cued(text: str, first: int, last: int) -> bool:
    """Whether the words around the stretch ``text[first:last]`` call it a phone number."""
    return (
        _PHONE_CUE_BEFORE.search(text, max(0, first - _CUE_LOOKBACK), first) is not None
        or _PHONE_CUE_AFTER.match(text, last) is not None
    )


def _plausible_phone(text: str, start: int, end: int) -> bool:
    """Reject matches that read as dates, IP addresses, amounts or identifiers."""
    if (start and _is_ascii_letter(text[start - 1]) and not _phone_word_glued(text, start)) or (
        end < len(text) and _is_ascii_letter(text[end])
    ):
        return False  # glued to a word, as in "abc8005001234" (POSSIBLE matches allow it)
    raw = text[start:end]
    compact = raw.strip("()[] ")
    if _IPV4.fullmatch(compact) or _DATE_INSIDE.search(raw):
        return False
    if not raw.startswith(("+", "(+", "[+")) and _DATE_WHOLE.fullmatch(_NON_DIGITS.sub("", raw)):
        return False
    if _GLUED_BEFORE.search(text, max(0, start - _GLUED_BEFORE_LOOKBACK), start) and not (
        _phone_word_glued(text, start)
    ):
        return False
    if _identifier_before(text, start, end):
        return False
    return _AMOUNT_AFTER.match(text, end) is None


def _phone_word_glued(text: str, start: int) -> bool:
    """Whether a phone word is glued to the number at ``start`` (:data:`_PHONE_WORD_GLUED`).

    >>> _phone_word_glued("mobile13185432202", 6), _phone_word_glued("REF/2025", 4)
    (True, False)
    """
    return _PHONE_WORD_GLUED.search(text, max(0, start - _GLUED_LOOKBACK), start) is not None


def _identifier_before(text: str, start: int, end: int) -> bool:
    """Whether an identifier keyword right before ``text[start:end]`` (a phone-like
    number) makes it an identifier rather than a phone number.

    Never for a number written with a bracketed area code ("(503) 555-0139") or that
    the words after it call a phone ("5035550576 is my phone number"). A Chinese
    mobile number is hidden only by the name of a thing written right before it (an
    order, a parcel, an invoice...), any other number also by a person's identifier
    ("account no.", "会员号") or a bare "#"; a plain run of digits also by a list or a
    few words after a thing ("parcels 9881... and 9881...", "the order number for the
    blender is 8529...", 15 digits a few words after "IMEI"), or by a Chinese
    "<thing>号" ("户号6063...", "学生证号2026...").
    """
    value = text[start:end]
    if _BRACKETED_CODE.match(value) or _PHONE_CUE_AFTER.match(text, end):
        return False
    if _CN_MOBILE_SHAPE.fullmatch(_NON_DIGITS.sub("", value)):
        return _MOBILE_ID_CONTEXT.search(text, max(0, start - _ID_LOOKBACK), start) is not None
    if (
        len(value) == _IMEI_DIGITS
        and value.isdigit()
        and _IMEI_CONTEXT.search(text, max(0, start - _DIGITS_ID_LOOKBACK), start)
    ):
        return True
    if value.isdigit():
        lookback = max(0, start - _DIGITS_ID_LOOKBACK)
        return _DIGITS_ID_CONTEXT.search(text, lookback, start) is not None
    return _PHONE_ID_CONTEXT.search(text, max(0, start - _ID_LOOKBACK), start) is not None


def _written_in_full(match: phonenumbers.PhoneNumberMatch, trunk_prefix: str) -> bool:
    """Whether a region match is written as someone would write a whole number.

    International forms (``+``, ``00``/``011``) and national forms with the trunk
    prefix (``020 ...``, ``1-206-...``) are. Without the prefix only numbers of ten
    digits or more that are mobile (or, as in the US, may be) are: US numbers and
    Chinese or Indian mobiles, not local numbers (which a permissive numbering
    plan such as Germany's accepts for almost any digits) nor "1234567890".
    """
    raw = match.raw_string
    if _LEADING_INTERNATIONAL.match(raw):
        return True
    digits = _NON_DIGITS.sub("", raw)
    if digits.startswith(("00", "011")) or (trunk_prefix and digits.startswith(trunk_prefix)):
        return True
    code = _BARE_COUNTRY_CODE.match(raw)
    if code and int(code.group(1) or code.group(2)) == match.number.country_code:
        return True  # the country code without "+": "(852) 6915 4134", "44 20 7946 0958"
    if len(digits) < 10:
        return False
    kind = phonenumbers.number_type(match.number)
    return kind in _UNPREFIXED_TYPES or (kind in _SERVICE_TYPES and not raw.isdigit())


def _valid_cn_landline(number: str) -> bool:
    """Whether ``number`` (with its trunk prefix "0") is a valid Chinese landline."""
    try:
        parsed = phonenumbers.parse(number, "CN")
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.FIXED_LINE


def _is_ascii_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _count_digits(value: str) -> int:
    return sum(1 for ch in value if ch.isdigit())


def _valid_cn_id(value: str) -> bool:
    """GB 11643-1999 check character and a plausible birth date: a real date, not
    after today and not more than :data:`_MAX_AGE_YEARS` years before it."""
    if cn_id_check_char(value) != value[17].upper():
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    # Today's date read for each candidate (a check character has matched by now, so
    # this is rare and cheap): a worker that runs for days keeps the current date.
    today = date.today()
    oldest = (today.year - _MAX_AGE_YEARS, today.month, today.day)
    return oldest <= (born.year, born.month, born.day) and born <= today


def _iban_end(text: str, start: int, end: int) -> int | None:
    """End of the valid IBAN starting at ``start`` within ``text[start:end]``, if any."""
    candidate = text[start:end]
    country = candidate[:2].upper()
    try:
        length = iban_registry.get_iban_spec(country).iban_length
    except SchwiftyException:
        return None
    # Walk to the end of the ``length``-th alphanumeric character.
    kept = 0
    stop = start
    for offset, ch in enumerate(candidate):
        if ch != " ":
            kept += 1
            if kept == length:
                stop = start + offset + 1
                break
    if kept < length or (stop < end and text[stop] != " "):
        return None
    compact = text[start:stop].replace(" ", "").upper()
    try:
        SchwiftyIBAN(compact)
    except SchwiftyException:
        if not iban_ok(compact):
            return None
    return stop
