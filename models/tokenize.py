"""The one tokenizer every model shares: English words, jieba for Chinese, shapes for numbers.

A text is NFKC-folded and scanned once with a compiled regex into runs:

- placeholders left by redaction (``[EMAIL]``, ``[ORDER_ID]``: upper case in
  brackets) become one token each, lower-cased: ``"[email]"``;
- runs of Han characters are segmented by jieba (precise mode, with its HMM for
  unknown words); tokens in :data:`CHINESE_STOPWORDS` are dropped;
- numbers, with their inner separators (``4821``, ``12.50``, ``2026-01-05``,
  ``09:18``), become the shape token :data:`NUMBER` so that order numbers and
  dates don't grow the vocabulary; digits inside a word keep the letters
  (``"a320"`` → ``"a<num>"``, ``"24h"`` → ``"<num>h"``);
- words (letters and digits in any other script, with inner apostrophes, so
  ``"don't"`` is one token) are lower-cased; tokens in
  :data:`ENGLISH_STOPWORDS` are dropped;
- emoji are kept, one token each (they carry sentiment); punctuation, other
  symbols and whitespace are dropped.

Negations are never stopwords: ``not``, ``no``, ``never``, ``don't``, ``can't``
... in English and 不 没 没有 别 未 无 in Chinese stay, because they flip the
meaning of what follows.

The language argument is a hint about the whole text; the segmentation is always
decided per run of characters, so a Chinese text's English product name is an
English word and an English text's Chinese phrase goes through jieba. The hint
only chooses stopword lists: English stopwords apply to texts hinted ``None``,
``"und"``, ``"en"`` or ``"zh"`` (English words in Chinese text), and not to other
languages, where the same spelling is often a content word (German ``"will"``,
``"also"``, ``"was"``);
Chinese stopwords apply unless the hint is ``"ja"``.

jieba loads its dictionary (about 1 s, then cached on disk by jieba) on the first
text with Han characters; call :func:`preload` at worker start-up to pay it there.
At that point the words of :data:`JIEBA_WORDS` are added to jieba's default
dictionary (process-wide, as jieba's own ``add_word`` does): without them jieba
reads 没收到 ("not received", a very common complaint) as 没收 + 到,
"confiscate" + "arrive", and loses the negation. Segmentations of Han runs are
kept in an LRU cache (chats repeat short phrases such as 好的 or 送餐很快).

>>> tokenize("I don't want a refund, I want my order #4821 NOW!")
["don't", 'want', 'refund', 'want', 'order', '<num>', 'now']
>>> tokenize("我要申请退款，快递三天了还没到")
['我要', '申请', '退款', '快递', '三天', '还', '没到']
>>> tokenize("iPhone 15 屏幕坏了，请联系 [PHONE]")
['iphone', '<num>', '屏幕', '坏', '请', '联系', '[phone]']
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

__all__ = [
    "CHINESE_STOPWORDS",
    "ENGLISH_STOPWORDS",
    "JIEBA_WORDS",
    "NUMBER",
    "han_grams",
    "preload",
    "tokenize",
    "tokenize_many",
]

#: The token that stands for any number.
NUMBER = "<num>"

#: Function words that tell a model nothing. Negations (no, not, nor, never, none,
#: nothing, nobody, cannot, n't forms), contrast (but) and intensifiers (very, too,
#: so) are deliberately absent.


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


ENGLISH_STOPWORDS: frozenset[str] = _words(
    """
    a an the and or if of to in on at by for from with about as into onto over
    i me my mine myself we us our ours you your yours he him his she her hers it its
    they them their theirs this that these those there here
    am is are was were be been being do does did doing have has had having
    i'm i've i'd i'll you're you've you'd you'll he's she's it's we're we've we'll
    they're they've that's there's what's let's
    will would shall should can could may might must
    just also then than such
    """
)

#: Particles, pronouns and other function words. Negations (不 没 没有 别 未 无 非)
#: and 还 ("still", as in 还没到) are deliberately absent.
CHINESE_STOPWORDS: frozenset[str] = _words(
    """
    的 地 得 了 着 过 吗 呢 啊 吧 呀 哦 哈 啦 嘛 么 哟 噢 喔 嗯 哎 唉
    是 我 你 您 他 她 它 我们 你们 您们 他们 她们 它们 咱们 自己
    这 那 这个 那个 这些 那些 这里 那里 这样 那样
    就 都 也 又 才 在 和 与 及 跟 同 把 被 让 给 对 从 向 往 于 以 之 而 或 并 且
    一个 个 有 等
    """
)

#: Words added to jieba's dictionary, with their frequencies (see the module docstring).
JIEBA_WORDS: dict[str, int] = {"没收到": 5000}

_HAN_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_EMOJI_CLASS = "\U0001f300-\U0001f3fa\U0001f400-\U0001faff\u2600-\u27bf\u2b50\u2b55"
_TOKEN = re.compile(
    r"(?P<placeholder>\[[A-Z][A-Z0-9_]{0,31}\])"
    rf"|(?P<han>[{_HAN_CLASS}]+)"
    # A number is taken whole (atomic group), and only when no letter follows it.
    r"|(?P<number>(?>\d+(?:[.,:/-]\d+)*)(?![^\W_]))"
    rf"|(?P<word>[^\W_{_HAN_CLASS}]+(?:['’][^\W_{_HAN_CLASS}]+)*)"
    rf"|(?P<emoji>[{_EMOJI_CLASS}])"
)
_DIGITS = re.compile(r"\d+")
_HAN_RUN = re.compile(rf"[{_HAN_CLASS}]+")
# Every character NFKC folds into Han (tests/unit/test_tokenize.py checks them all): the
# Han class, radicals, Hangzhou numerals, kanbun marks, enclosed and squared ideographs,
# compatibility ideographs. Text without one has no Han n-gram, unfolded.
_HAN_OR_COMPATIBLE = re.compile(
    rf"[{_HAN_CLASS}\u2e80-\u2fdf\u3038-\u303a\u3190-\u319f\u3200-\u33ff"
    r"\U0001f200-\U0001f2ff\U0002f800-\U0002fa1f]"
)
_CURLY_APOSTROPHE = "’"

#: Han runs whose segmentation is remembered: chats repeat short phrases (好的, 谢谢,
#: 送餐很快); 30 % of the runs in the food-delivery reviews occur more than once.
_SEGMENT_CACHE_SIZE = 32_768

#: Hints for which English stopwords apply (see the module docstring).
_ENGLISH_STOPWORD_HINTS = frozenset({None, "und", "en", "zh"})


@functools.cache
def _jieba_lcut() -> Any:
    """``jieba.lcut``, its dictionary loaded once per process, quietly."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    for word, frequency in JIEBA_WORDS.items():
        jieba.add_word(word, frequency)
    return jieba.lcut


@functools.lru_cache(maxsize=_SEGMENT_CACHE_SIZE)
def _segment(run: str) -> tuple[str, ...]:
    """jieba's words for a run of Han characters, remembered for runs that come back."""
    if len(run) == 1:
        return (run,)
    return tuple(_jieba_lcut()(run))


def preload() -> None:
    """Load jieba's dictionary now rather than on the first Chinese text."""
    _jieba_lcut()


def han_grams(text: str) -> list[str]:
    """The character 1- and 2-grams of each run of Han characters (NFKC-folded, as
    :func:`tokenize` folds): what jieba's segmentation can miss in short, casual Chinese
    (a misread word still shares its characters). Nothing for text without Han.

    >>> han_grams("送餐很快, great!")
    ['送', '餐', '很', '快', '送餐', '餐很', '很快']
    >>> han_grams("no Chinese here")
    []
    """
    if text.isascii() or not _HAN_OR_COMPATIBLE.search(text):
        return []
    grams: list[str] = []
    for run in _HAN_RUN.findall(unicodedata.normalize("NFKC", text)):
        grams += run
        grams += [run[i : i + 2] for i in range(len(run) - 1)]
    return grams


def tokenize(text: str, language: str | None = None) -> list[str]:
    """The tokens of ``text``, lower-cased, without punctuation and stopwords.

    One text is tokenized for scoring, for the index (``text_terms``) and again by
    the learner: the last few thousand results are remembered.

    ``language`` is a hint (ISO 639-1 or ``"und"``); see the module docstring.

    >>> tokenize("Never again!!! 😡 Flight AA100 delayed 3 hours", "en")
    ['never', 'again', '😡', 'flight', 'aa<num>', 'delayed', '<num>', 'hours']
    >>> tokenize("这家店的菜不好吃，没有下次了")
    ['这家', '店', '菜', '不', '好吃', '没有', '下次']
    """
    if not text:
        return []
    return list(_tokenize(text, language))


@functools.lru_cache(maxsize=4096)
def _tokenize(text: str, language: str | None) -> tuple[str, ...]:
    if text.isascii():
        return _tokenize_ascii(text, language in _ENGLISH_STOPWORD_HINTS)
    return _tokenize_any(text, language)


# _TOKEN on ASCII text (which NFKC leaves as it is): no Han, no emoji, and the classes
# are ASCII ones. Its groups are _TOKEN's placeholder, number and word.
_ASCII_TOKEN = re.compile(
    r"(\[[A-Z][A-Z0-9_]{0,31}\])"
    r"|((?>[0-9]+(?:[.,:/-][0-9]+)*)(?![A-Za-z0-9]))"
    r"|([A-Za-z0-9]+(?:'[A-Za-z0-9]+)*)"
)


def _tokenize_ascii(text: str, english_stopwords: bool) -> tuple[str, ...]:
    """:func:`_tokenize_any` of an ASCII text: the same tokens, twice as fast (findall's
    tuples of strings cost less than a match object per token)."""
    tokens: list[str] = []
    append = tokens.append
    for placeholder, number, word in _ASCII_TOKEN.findall(text):
        if word:
            word = word.lower()
            if english_stopwords and word in ENGLISH_STOPWORDS:
                continue
            if not word.isalpha():
                word = _DIGITS.sub(NUMBER, word)
            append(word)
        elif number:
            append(NUMBER)
        else:
            append(placeholder.lower())
    return tuple(tokens)


def _tokenize_any(text: str, language: str | None) -> tuple[str, ...]:
    text = unicodedata.normalize("NFKC", text)
    english_stopwords = language in _ENGLISH_STOPWORD_HINTS
    chinese_stopwords = language != "ja"
    tokens: list[str] = []
    append = tokens.append
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        value = match.group()
        if kind == "word":
            word = value.lower()
            if _CURLY_APOSTROPHE in word:
                word = word.replace(_CURLY_APOSTROPHE, "'")
            if english_stopwords and word in ENGLISH_STOPWORDS:
                continue
            if not word.isalpha():
                word = _DIGITS.sub(NUMBER, word)
            append(word)
        elif kind == "han":
            for piece in _segment(value):
                if not (chinese_stopwords and piece in CHINESE_STOPWORDS):
                    append(piece)
        elif kind == "number":
            append(NUMBER)
        else:  # placeholder or emoji
            append(value.lower())
    return tuple(tokens)


def tokenize_many(
    texts: Sequence[str], languages: Sequence[str | None] | None = None
) -> list[list[str]]:
    """:func:`tokenize` for each text, with its language hint when ``languages`` is given.

    >>> tokenize_many(["Refund please", "请退款"], ["en", "zh"])
    [['refund', 'please'], ['请', '退款']]
    """
    if languages is None:
        return [tokenize(text) for text in texts]
    if len(languages) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(languages)} language hints")
    return [tokenize(text, language) for text, language in zip(texts, languages, strict=True)]
