"""Online models (River) that learn while the stream flows, and their scikit-learn baselines.

Every model follows one protocol (:class:`models.protocol.OnlineModel`):
``predict_one`` / ``learn_one``, ``*_many`` for batches, ``explain_one``,
``snapshot`` / ``restore`` and a ``version`` that counts what it learned.
Text features come from the one shared tokenizer, :func:`models.tokenize.tokenize`.
"""

from models.emerging import EmergingNeedEvent, EmergingNeeds
from models.features import Example, OnlineTfidf, from_record
from models.health import DriftEvent, Health, ModelHealth
from models.keywords import KeywordExtractor
from models.need import NeedClassifier, NeedPrediction
from models.protocol import BaseOnlineModel, OnlineModel
from models.satisfaction import (
    SCALES,
    SatisfactionModel,
    SatisfactionPrediction,
    normalize_score,
    sentiment_of_score,
)
from models.urgency import UrgencyModel, UrgencyPrediction

__all__ = [
    "SCALES",
    "BaseOnlineModel",
    "DriftEvent",
    "EmergingNeedEvent",
    "EmergingNeeds",
    "Example",
    "Health",
    "KeywordExtractor",
    "ModelHealth",
    "NeedClassifier",
    "NeedPrediction",
    "OnlineModel",
    "OnlineTfidf",
    "SatisfactionModel",
    "SatisfactionPrediction",
    "UrgencyModel",
    "UrgencyPrediction",
    "from_record",
    "normalize_score",
    "sentiment_of_score",
]
