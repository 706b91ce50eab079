"""How satisfied the customer is: a score in [0, 1] and a sentiment, learned online.

Feedback comes on many scales (CSAT 1-5, NPS 0-10, stars 1-5): :func:`normalize_score`
maps them to [0, 1] (0 worst, 1 best) before the model sees them. Some sources give a
sentiment label instead (negative / neutral / positive); the model learns from both:

- a **sentiment classifier**: River's :class:`~river.linear_model.SoftmaxRegression`
  over TF-IDF of the model's terms (:func:`satisfaction_terms`: the shared tokens; for
  text with Han characters, their character 1- and 2-grams; and **cues**
  (:func:`cue_terms`): the word after each negation, marked (``"#not happy"``), and
  whether the text asks, exclaims, smiles or frowns (``"#?"``, ``"#!"``, ``"#:)"``,
  ``"#:("``)), the classes seen so far, **class-balanced** (an example of sentiment
  ``y`` learned with the step ``(n / (k n_y)) ** 0.25``), **plus an online naive Bayes**
  (:class:`OnlineNaiveBayes`, multinomial over the distinct terms, alpha 0.5): the
  prediction is the first class of highest ``softmax logit + w * naive Bayes log
  joint``, ``w`` 0.25 for text without Han characters and 0.07 for text with them. It
  learns every label, and every score through the thresholds of :func:`sentiment_of_score`;
- a **score model**, a softmax regression over score levels (``n_levels`` evenly spaced,
  0 to 1) over TF-IDF of the tokens only, learns every score as its nearest level and
  every label as the level of its score (negative 0, neutral 0.5, positive 1); its
  prediction is the expected level.

Measured prequentially (last 20%, TF-IDF features, scores 0/0.5/1 from the airline
sentiment and 0/1 from the waimai labels): the expected level had an MAE of 0.169 and
0.173, against 0.200 and 0.222 for River's LinearRegression (its best learning rate, 0.1),
0.210 / 0.221 for PARegressor and 0.195 / 0.205 for scikit-learn's batch Ridge.

The sentiment, accuracy / macro-F1 on the last 20% with ``crmstream eval`` (airline
tweets in time order, 3 classes; waimai reviews shuffled with seed 0, 2 classes); the
tuned batch baseline (word 1-2-grams + character n-grams, linear SVM, C by
cross-validation on the first 80%) has 0.795 / 0.739 and 0.909 / 0.897:

- the softmax regression over tokens alone: 0.780 / 0.722 and 0.891 / 0.877 (batch
  TF-IDF + LogisticRegression: 0.767 / 0.692 and 0.887 / 0.869);
- with the naive Bayes (weight 0.07 for all text), balancing and the Han n-grams, no
  cues: 0.788 / 0.736 and 0.905 / 0.893. Alone, the naive Bayes term gives 0.6-1.1
  point on both (it is exact where one pass of SGD is not: its counts are the batch
  model's); with it, balancing +0.5 / +1.2 on airline, +0.1 / +0.2 on waimai; the Han
  n-grams +0.3 to +0.5 on waimai, in the softmax and in the naive Bayes alike (unigrams
  or bigrams alone: no gain);
- this model: **0.798 / 0.748 and 0.907 / 0.896**, at or above the tuned baseline on
  airline and within 0.2 point of it on waimai. On airline, from 0.788 / 0.736: the
  punctuation cues alone +0.4 / +0.7 (a question is rarely positive: 3 % of the tweets
  with "?" are, against 16 % of all), the negated words alone +0.1 / +0.3, the naive
  Bayes weight 0.25 alone +0.1 / -0.3, all three together +1.0 / +1.2 (the weight
  pays only with the cues: 0.15 to 0.35 all give 0.797-0.799). On waimai the negated
  words give +0.2 / +0.3 (不 or 没有 before a word jieba keeps whole: 不 好吃) and the
  punctuation nothing. Other orders, the same model against the one without cues: waimai
  shuffled with seeds 1 and 2, +0.0 / +0.0 and +0.3 / +0.4; airline shuffled (seed 0),
  +0.9 / +1.3.
  Two weights for the naive Bayes because text with Han characters holds each
  character in a word, a 1-gram and two 2-grams: the naive Bayes counts the same
  evidence about 4 times over, and its best weight is about a quarter (waimai gains
  most with 0.05-0.07, airline with 0.2-0.3). Differences of 0.3 point are within the
  noise of a 2,400-2,900-row test part (one standard error of the accuracy is about
  0.6 point);
- tried and not kept: word bigrams in the naive Bayes (airline +0.3, and a second
  batch of terms to score), character 3-5-grams of English words in it (no gain), its
  log joint normalized by the number of terms or its square root (no gain), learning
  its weight online (the same figures), NB-scaled features (Wang & Manning's NBSVM:
  each TF-IDF value times the term's log-count ratio; airline 1 point worse), balancing
  with exponent 0.5 (no better with the naive Bayes, 1 point less accuracy without), a
  constant (bias) term (no gain), negation scopes of 3 words rather than 1 (airline
  -0.4 against one word).
  On the branch ``quality``: hashed character 3-grams of all text in the softmax (0.787 /
  0.729 and 0.896 / 0.883, for about 0.2 ms more per example learned), averaged SGD,
  AdaGrad, passive-aggressive updates, other rates, sublinear tf, replay.

What it costs: learning a satisfaction example is a count per distinct term more (the
naive Bayes) and, for Chinese text, about 5 times as many sentiment weights to update
(the score model reads the tokens only); English text reads no n-gram, and a text with
cues (two thirds of the bench's communications) one to four terms more, and its tokens
transformed a second time for the score model. The learner's health step predicts only
the score it compares (:meth:`SatisfactionModel.predict_score`), which pays for part of
it. Scoring a batch adds the naive Bayes matrix (one sparse product) and, for the
batch's texts with Han or cues, a batch of their own (:mod:`models.compiled`: the
batch's own entries extended by those terms, not the text read again). The cues are
found with ``in`` tests and set operations, in C (a regular expression over each text
cost 36 µs a tweet, more than all the rest of its scoring).
The naive Bayes and the Han n-grams, measured in process on the bench's mix (20,000
events, 14% of them satisfaction examples, about 13% Chinese communications;
bench.stages.model_stage, three runs each, back to back with the code before, machine
otherwise quiet): learning 0.0954 -> 0.1000 ms per example (+5%; a satisfaction example
0.054 -> 0.072 ms), scoring 0.0347 -> 0.0377 ms per communication (+9%); a snapshot
3.22 -> 3.26 MB after those 20,000 events. The cues and the second weight, measured in
process on the same mix (12,000 events of bench.events.build_event_set), the model
against itself with ``cues=False`` and one weight 0.07, CPU time, the minimum over
interleaved repeats of each batch (the 2-core machine was shared: separate runs of the
same code differed by 15%, so only ratios within a process are quoted): scoring a
communication, the whole compiled bundle, 0.0233 -> 0.0255 and 0.0254 -> 0.0288 ms in
two runs (+9%, +13%); the model learning a tweet or review 0.152 -> 0.171 ms (+12%); the
bundle learning a bench message +0.4% (the satisfaction model is a small part of it).

>>> from models.features import Example
>>> model = SatisfactionModel()
>>> model.predict_one(Example("ok")).sentiment
'neutral'
>>> for _ in range(3):
...     model.learn_one(Example("great service, thank you so much"), "positive")
...     model.learn_one(Example("terrible, rude agent, never again"), "negative")
...     model.learn_one(Example("fast delivery, great food"), normalize_score(5, 1, 5))
>>> model.predict_one(Example("great food and service")).sentiment
'positive'
>>> model.predict_one(Example("rude and terrible")).score < 0.5
True
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from river import linear_model, optim
from river.utils.math import dot, softmax

from models.balancing import balanced_rate, set_softmax_rate
from models.features import Example, OnlineTfidf, top_terms
from models.protocol import BaseOnlineModel
from models.tokenize import han_grams
from schemas.events import normalize_score

__all__ = [
    "EXCLAMATION",
    "FROWN",
    "GRAM_MARK",
    "NEGATED",
    "NEGATIONS",
    "QUESTION",
    "SCALES",
    "SENTIMENT_SCORES",
    "SMILE",
    "OnlineNaiveBayes",
    "SatisfactionModel",
    "SatisfactionPrediction",
    "Sentiment",
    "cue_terms",
    "extra_terms",
    "normalize_score",
    "parse_sentiment",
    "satisfaction_terms",
    "sentiment_of_score",
]

Sentiment = Literal["negative", "neutral", "positive"]

#: The score a sentiment label stands for.
SENTIMENT_SCORES: dict[str, float] = {"negative": 0.0, "neutral": 0.5, "positive": 1.0}

#: Usual feedback scales, (lowest, highest).
SCALES: dict[str, tuple[float, float]] = {"csat": (1, 5), "nps": (0, 10), "stars": (1, 5)}

_SYNONYMS: dict[str, Sentiment] = {
    "negative": "negative",
    "neg": "negative",
    "neutral": "neutral",
    "neu": "neutral",
    "positive": "positive",
    "pos": "positive",
}


def sentiment_of_score(
    score: float, negative_at_most: float = 0.35, positive_from: float = 0.7
) -> Sentiment:
    """The sentiment a normalized score stands for (the feedback generator's thresholds).

    >>> sentiment_of_score(0.25), sentiment_of_score(0.5), sentiment_of_score(0.75)
    ('negative', 'neutral', 'positive')
    """
    if score <= negative_at_most:
        return "negative"
    if score >= positive_from:
        return "positive"
    return "neutral"


def parse_sentiment(value: Any) -> Sentiment | None:
    """A sentiment label from text (``negative``/``neg``/..., any case) or a bool.

    >>> parse_sentiment("Positive"), parse_sentiment(False), parse_sentiment("meh")
    ('positive', 'negative', None)
    """
    if isinstance(value, bool):
        return "positive" if value else "negative"
    if isinstance(value, str):
        return _SYNONYMS.get(value.strip().lower())
    return None


#: Marks a term that is not a word among the satisfaction model's terms: a Han character
#: n-gram, a negated word or a punctuation cue (no token starts with it: the tokenizer
#: drops punctuation), so explanations can leave them out.
GRAM_MARK = "#"

#: Words that flip the meaning of the word after them (none is a stopword of the
#: shared tokenizer): English (with the apostrophe-less spellings of tweets) and Chinese.
_NEGATION_WORDS = """
    not no never cannot nothing nobody none nor neither without
    can't don't doesn't didn't isn't aren't wasn't weren't won't wouldn't couldn't
    shouldn't haven't hasn't hadn't ain't cant dont doesnt didnt isnt wasnt wont
    不 没 没有 别 未 无 非 不是 不会 不要 不能 没什么
"""
NEGATIONS: frozenset[str] = frozenset(_NEGATION_WORDS.split())

#: The mark of a negated word: the token after a negation is also read as this + token.
NEGATED = GRAM_MARK + "not "

#: Punctuation cues, each a term when the text holds it: a question (mostly neutral:
#: people asking), an exclamation (half-width or full-width), a smile, a frown.
QUESTION, EXCLAMATION, SMILE, FROWN = (GRAM_MARK + c for c in ("?", "!", ":)", ":("))
_EMOTICON = re.compile(r"[:;=]-?([)D(])")


def cue_terms(x: Example) -> list[str]:
    """The negated words and punctuation cues of ``x``, marked with :data:`GRAM_MARK`:
    the token after each negation (unless a negation itself), then
    :data:`QUESTION`, :data:`EXCLAMATION`, :data:`SMILE` and :data:`FROWN`, each once
    if the text holds it.

    >>> cue_terms(Example("Not happy. Why has my bag still not arrived?! :("))
    ['#not happy', '#not arrived', '#?', '#!', '#:(']
    >>> cue_terms(Example("菜不好吃！")), cue_terms(Example("thanks"))
    (['#not 好吃', '#!'], [])
    """
    # (str and set operations, in C: a regex over every text costs 10 times as much)
    tokens, text = x.tokens, x.text
    cues: list[str] = []
    if not NEGATIONS.isdisjoint(tokens):
        cues += [
            NEGATED + tokens[i + 1]
            for i in range(len(tokens) - 1)
            if tokens[i] in NEGATIONS and tokens[i + 1] not in NEGATIONS
        ]
    if "?" in text or "？" in text:
        cues.append(QUESTION)
    if "!" in text or "！" in text:
        cues.append(EXCLAMATION)
    if ":" in text or ";" in text or "=" in text:
        mouths = set(_EMOTICON.findall(text))
        if mouths & {")", "D"}:
            cues.append(SMILE)
        if "(" in mouths:
            cues.append(FROWN)
    return cues


def extra_terms(x: Example, grams: list[str] | None = None, *, cues: bool = True) -> list[str]:
    """What the satisfaction model reads of ``x`` besides its tokens, all marked with
    :data:`GRAM_MARK` (so never one of its tokens): the character 1- and 2-grams of its
    Han runs (``grams``, if already known) and, with ``cues``, its :func:`cue_terms`.

    >>> extra_terms(Example("菜不好吃!"))
    ['#菜', '#不', '#好', '#吃', '#菜不', '#不好', '#好吃', '#not 好吃', '#!']
    """
    if grams is None:
        grams = han_grams(x.text)
    extra = [GRAM_MARK + g for g in grams] if grams else []
    if cues:
        extra += cue_terms(x)
    return extra


def satisfaction_terms(
    x: Example, grams: list[str] | None = None, *, cues: bool = True
) -> list[str]:
    """What the satisfaction model reads of ``x``: its tokens, then its
    :func:`extra_terms`; ``x.tokens`` itself (the same list) for text with none.

    >>> satisfaction_terms(Example("送餐很快"))
    ['送餐', '很快', '#送', '#餐', '#很', '#快', '#送餐', '#餐很', '#很快']
    >>> satisfaction_terms(Example("not good!"))
    ['not', 'good', '#not good', '#!']
    >>> x = Example("great crew")
    >>> satisfaction_terms(x) is x.tokens
    True
    """
    extra = extra_terms(x, grams, cues=cues)
    return [*x.tokens, *extra] if extra else x.tokens


class OnlineNaiveBayes:
    """Multinomial naive Bayes over the terms a document holds (each counted once),
    learned online: learning is a count per term.

    A class's log joint for a document is ``ln(n_c / n) + sum over its distinct known
    terms of ln(count(t, c) + alpha) - ln(total(c) + alpha * V)``, with ``count(t, c)``
    the documents of class ``c`` holding ``t``, ``total(c)`` the sum of those counts and
    ``V`` the vocabulary's size; terms never learned add nothing. Memory is bounded: past
    ``max_terms`` terms, those in fewest documents are forgotten down to half (the
    totals recomputed).

    >>> nb = OnlineNaiveBayes(alpha=0.5)
    >>> nb.learn(["late", "rude"], "negative")
    >>> nb.learn(["great", "crew"], "positive")
    >>> joint = nb.log_joint(["rude", "crew", "rude", "unknown"])
    >>> {c: round(v, 3) for c, v in joint.items()}
    {'negative': -3.753, 'positive': -3.753}
    >>> max(nb.log_joint(["rude"]).items(), key=lambda cv: cv[1])[0]
    'negative'
    """

    def __init__(self, alpha: float = 0.5, max_terms: int = 500_000) -> None:
        if alpha <= 0:
            raise ValueError("alpha must be positive")
        self.alpha = alpha
        self.max_terms = max_terms
        self.counts: dict[str, dict[Any, int]] = {}  # term -> class -> documents
        self.totals: dict[Any, int] = {}  # class -> sum of its term counts
        self.documents: dict[Any, int] = {}  # class -> documents, in order of appearance

    def learn(self, terms: Iterable[str], label: Any) -> None:
        """Count one document of class ``label``."""
        distinct = dict.fromkeys(terms)
        counts = self.counts
        for term in distinct:
            per_class = counts.get(term)
            if per_class is None:
                counts[term] = {label: 1}
            else:
                per_class[label] = per_class.get(label, 0) + 1
        self.totals[label] = self.totals.get(label, 0) + len(distinct)
        self.documents[label] = self.documents.get(label, 0) + 1
        if len(counts) > self.max_terms:
            self._forget()

    def _forget(self) -> None:
        kept = sorted(self.counts.items(), key=lambda kv: sum(kv[1].values()), reverse=True)
        self.counts = dict(kept[: self.max_terms // 2])
        totals = dict.fromkeys(self.documents, 0)
        for per_class in self.counts.values():
            for label, count in per_class.items():
                totals[label] += count
        self.totals = totals

    def log_prior(self, label: Any) -> float:
        """``ln(n_c / n)``."""
        return math.log(self.documents[label] / sum(self.documents.values()))

    def log_denominator(self, label: Any) -> float:
        """``ln(total(c) + alpha * V)``."""
        return math.log(self.totals[label] + self.alpha * len(self.counts))

    def term_weight(self, count: int, denominator: float) -> float:
        """A known term's share of a class's log joint: ``ln(count + alpha) - denominator``."""
        return math.log(count + self.alpha) - denominator

    def log_joint(self, terms: Iterable[str]) -> dict[Any, float]:
        """Each class's log joint for a document holding ``terms`` (classes in order of
        appearance; empty before any learning)."""
        counts = self.counts
        known = [counts[t] for t in dict.fromkeys(terms) if t in counts]
        joint: dict[Any, float] = {}
        for label in self.documents:
            denominator = self.log_denominator(label)
            weight = self.term_weight
            joint[label] = self.log_prior(label) + sum(
                [weight(per_class.get(label, 0), denominator) for per_class in known]
            )
        return joint


@dataclass(frozen=True)
class SatisfactionPrediction:
    """Predicted satisfaction in [0, 1], its sentiment and the terms that drove it."""

    score: float
    sentiment: Sentiment
    terms: list[tuple[str, float]] = field(default_factory=list)


class SatisfactionModel(BaseOnlineModel[Example, SatisfactionPrediction]):
    """Learns satisfaction from normalized scores and from sentiment labels.

    ``learn_one(x, y)`` takes a score in [0, 1] (int or float: normalize first), a
    sentiment label (``"negative"``, ``"neutral"``, ``"positive"``) or a bool
    (``True`` positive). A 0/1 label is simply the score 0 or 1.

    Parameters
    ----------
    learning_rate
        SGD step of both softmax regressions (for the sentiment, that of a class of
        average frequency).
    n_levels
        Number of score levels of the score model (5 fits CSAT and stars exactly).
    n_terms
        How many terms a prediction reports.
    balance
        Class balancing of the sentiment classifier: an example of sentiment ``y`` is
        learned with the step ``learning_rate * (n / (k * n_y)) ** balance`` (``n``
        sentiments learned, ``k`` classes, ``n_y`` of them ``y``, counting this one).
    nb_weight
        Weight of the naive Bayes log joint added to the sentiment classifier's logits
        for text without Han characters (0: the softmax regression alone).
    nb_weight_han
        The same for text with Han characters, whose terms repeat each character in
        several n-grams, so the naive Bayes counts its evidence several times over.
    cues
        Whether the model reads :func:`cue_terms` (negated words, punctuation cues).
    nb_alpha
        Additive smoothing of the naive Bayes counts.
    """

    name = "satisfaction"
    # (class attributes too, for models pickled before they existed: see __setstate__)
    balance: float = 0.0
    nb_weight: float = 0.0
    cues: bool = False

    def __init__(
        self,
        learning_rate: float = 1.0,
        n_levels: int = 5,
        n_terms: int = 5,
        balance: float = 0.25,
        nb_weight: float = 0.25,
        nb_weight_han: float = 0.07,
        nb_alpha: float = 0.5,
        cues: bool = True,
    ) -> None:
        super().__init__()
        if n_levels < 2:
            raise ValueError("n_levels must be at least 2")
        self.learning_rate = learning_rate
        self.n_levels = n_levels
        self.n_terms = n_terms
        self.balance = balance
        self.nb_weight = nb_weight
        self.nb_weight_han = nb_weight_han
        self.cues = cues
        self.tfidf = OnlineTfidf()
        self.sentiment = linear_model.SoftmaxRegression(optimizer=optim.SGD(learning_rate))
        self.levels = linear_model.SoftmaxRegression(optimizer=optim.SGD(learning_rate))
        self.naive_bayes = OnlineNaiveBayes(nb_alpha)
        self.n_labels = 0
        self.n_scores = 0

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A model pickled before the naive Bayes part: the softmax regression alone
        # (nb_weight and balance 0, from the class), as it was learned. One pickled
        # before the cues reads none (cues False, from the class) and weighs the naive
        # Bayes alike for all text, as it did.
        state.setdefault("naive_bayes", OnlineNaiveBayes())
        state.setdefault("nb_weight_han", state.get("nb_weight", 0.0))
        self.__dict__.update(state)

    @property
    def sentiment_counts(self) -> dict[str, int]:
        """How many examples of each sentiment were learned (labels and scores)."""
        return dict(self.naive_bayes.documents)

    def _level(self, score: float) -> int:
        return round(score * (self.n_levels - 1))

    def _level_value(self, level: Any) -> float:
        return float(level) / (self.n_levels - 1)

    def terms(self, x: Example) -> list[str]:
        """The terms the sentiment classifier and the naive Bayes see for ``x``
        (:func:`satisfaction_terms`)."""
        return satisfaction_terms(x, cues=self.cues)

    def _read(self, x: Example) -> tuple[list[str], float]:
        """``x``'s terms and the naive Bayes weight for them."""
        grams = han_grams(x.text)
        terms = satisfaction_terms(x, grams, cues=self.cues)
        return terms, self.nb_weight_han if grams else self.nb_weight

    def nb_weight_of(self, x: Example) -> float:
        """The naive Bayes weight for ``x``: :attr:`nb_weight_han` if it holds Han."""
        return self._read(x)[1]

    def features(self, x: Example) -> dict[str, float]:
        """The TF-IDF vector of all of ``x``'s terms: what the sentiment classifier sees."""
        return self.tfidf.transform(self.terms(x))

    def word_features(self, x: Example) -> dict[str, float]:
        """The TF-IDF vector of ``x``'s tokens only: what the score model sees."""
        return self.tfidf.transform(x.tokens)

    def predict_score(self, x: Example) -> float:
        """``predict_one(x).score``, without the sentiment and the terms (the learner's
        health step compares only the score)."""
        if not self._version:
            return 0.5
        return self._score(self.word_features(x))

    def _score(self, word_features: dict[str, float]) -> float:
        levels = self.levels.predict_proba_one(word_features)
        score = sum(self._level_value(level) * p for level, p in levels.items())
        return min(1.0, max(0.0, float(score)))

    def logits(
        self, terms: list[str], features: dict[str, float], nb_weight: float | None = None
    ) -> dict[Any, float]:
        """Per sentiment class (the softmax's order): the softmax regression's logit plus
        ``nb_weight`` (:attr:`nb_weight` if not given) times the naive Bayes log joint."""
        logits = {label: dot(w, features) for label, w in self.sentiment.weights.items()}
        if nb_weight is None:
            nb_weight = self.nb_weight
        # (only once the naive Bayes knows every class, as it always does unless the model
        # was pickled before it existed)
        if nb_weight and self.naive_bayes.documents.keys() >= logits.keys():
            joint = self.naive_bayes.log_joint(terms)
            logits = {label: z + nb_weight * joint[label] for label, z in logits.items()}
        return logits

    def predict_proba_one(self, x: Example) -> dict[str, float]:
        """Probability of each sentiment seen so far (empty before any learning)."""
        terms, nb_weight = self._read(x)
        logits = self.logits(terms, self.tfidf.transform(terms), nb_weight)
        return {str(k): float(v) for k, v in softmax(logits).items()} if logits else {}

    def predict_one(self, x: Example) -> SatisfactionPrediction:
        if not self._version:
            return SatisfactionPrediction(0.5, "neutral")
        terms, nb_weight = self._read(x)
        features = self.tfidf.transform(terms)
        # (text without Han or cues: its terms are its tokens, the same vector)
        score = self._score(features if terms is x.tokens else self.word_features(x))
        logits = self.logits(terms, features, nb_weight)
        if logits:
            # The likeliest class: the first of the highest logits (softmax is monotonic).
            label = str(max(logits, key=lambda k: logits[k]))
            sentiment = parse_sentiment(label) or sentiment_of_score(score)
        else:
            sentiment = sentiment_of_score(score)
        return SatisfactionPrediction(score, sentiment, self._terms(features, sentiment))

    def _terms(self, features: dict[str, float], sentiment: str) -> list[tuple[str, float]]:
        """Words (never character n-grams or cues) that pushed towards ``sentiment`` in the
        softmax."""
        weights: dict[str, float] = self.sentiment.weights.get(sentiment, {})
        contributions = [
            (t, v * weights.get(t, 0.0)) for t, v in features.items() if not t.startswith(GRAM_MARK)
        ]
        return top_terms(contributions, self.n_terms)

    def _learn_one(self, x: Example, y: Any) -> None:
        label = parse_sentiment(y)
        score: float | None = None
        if label is None:
            try:
                score = float(y)
            except (TypeError, ValueError):
                raise ValueError(
                    f"satisfaction target must be a score in [0, 1] or a sentiment, got {y!r}"
                ) from None
            if not 0.0 <= score <= 1.0:
                raise ValueError(f"satisfaction score {score} is outside [0, 1]: normalize it")
            label = sentiment_of_score(score)
        terms = self.terms(x)
        self.tfidf.learn(terms)
        features = self.tfidf.transform(terms)
        self.naive_bayes.learn(terms, label)  # counts the label before the rate is set
        set_softmax_rate(self.sentiment, self._rate(label))
        self.sentiment.learn_one(features, label)
        if score is None:
            self.n_labels += 1
            score = SENTIMENT_SCORES[label]
        else:
            self.n_scores += 1
        words = features if terms is x.tokens else self.word_features(x)
        self.levels.learn_one(words, self._level(score))

    def _rate(self, label: str) -> float:
        """The sentiment's SGD step for an example of ``label`` (counted already)."""
        return balanced_rate(self.learning_rate, self.balance, self.naive_bayes.documents, label)

    def explain_one(self, x: Example) -> dict[str, float]:
        """Words that pushed towards the predicted sentiment (weight x tf-idf)."""
        return dict(self.predict_one(x).terms)
