"""run_evaluation on small synthetic files: metrics.json shape, report.md, learning curves."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import ClassVar

import orjson
import pytest

import models.evaluate
from crmstream.evaluation import bootstrap, run_evaluation
from crmstream.labelled import LabelledColumns, detect_satisfaction, order_rows
from crmstream.rows import parse_time
from models.baselines import TUNED_ALPHA, TUNED_C, TunedTextClassifier
from models.emerging import EmergingNeeds
from models.features import Example
from models.keywords import KeywordExtractor
from models.need import NeedClassifier
from models.satisfaction import SatisfactionModel
from models.urgency import UrgencyModel

PNG = b"\x89PNG\r\n\x1a\n"
TOPICS = {
    "Late Flight": ["delayed", "late", "hours", "waiting", "gate", "departure"],
    "Lost Luggage": ["bag", "luggage", "lost", "suitcase", "baggage", "claim"],
    "Cancelled Flight": ["cancelled", "cancel", "rebook", "flight", "stranded", "storm"],
}
HAPPY = ["thanks", "great", "love", "awesome", "crew", "smooth"]
NEUTRAL = ["question", "schedule", "when", "does", "route", "info"]


def synthetic_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Airline-like rows: need only on negative ones, a few without text, times shuffled."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        mood = rng.choice(["negative", "negative", "neutral", "positive"])
        if mood == "negative":
            need = rng.choice(sorted(TOPICS))
            words = rng.sample(TOPICS[need], 4)
        else:
            need = ""
            words = rng.sample(HAPPY if mood == "positive" else NEUTRAL, 4)
        minute = i  # a time order (within one day) that the shuffle below hides
        rows.append(
            {
                "tweet_id": str(570306133677760513 + i),
                "airline_sentiment": mood,
                "negativereason": need,
                "text": "" if i % 50 == 7 else "@airline " + " ".join(words),
                "tweet_created": f"2/16/2015 {minute // 60 % 24}:{minute % 60:02d}",
                "stars": str({"negative": 1, "neutral": 3, "positive": 5}[mood]),
            }
        )
    rng.shuffle(rows)
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_run_evaluation_writes_metrics_report_and_curves(tmp_path: Path) -> None:
    rows = synthetic_rows(300)
    source = tmp_path / "tweets.csv"
    write_csv(source, rows)
    calls: list[tuple[int, int]] = []
    out = tmp_path / "out"
    columns = LabelledColumns(
        "text", need="negativereason", satisfaction="airline_sentiment", time="tweet_created"
    )
    metrics = run_evaluation(
        source, columns, out=out, progress=lambda done, total: calls.append((done, total))
    )
    saved = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert saved == metrics
    assert set(saved) == {"tasks"}
    assert set(saved["tasks"]) == {"need", "sentiment"}
    with_text = [r for r in rows if r["text"]]
    n_need = sum(1 for r in with_text if r["negativereason"])
    expected_n_test = {"need": n_need - int(n_need * 0.8), "sentiment": 294 - int(294 * 0.8)}
    assert len(with_text) == 294
    for task, entry in saved["tasks"].items():
        assert set(entry) == {"online", "batch", "batch_tuned", "batch_tuned_choice", "n_test"}
        assert entry["n_test"] == expected_n_test[task]
        choice = entry["batch_tuned_choice"]
        assert choice["C"] in TUNED_C
        # The cross-validation saw the training part: every labelled row but the test ones.
        n_labelled = n_need if task == "need" else len(with_text)
        assert choice["cv_rows"] == n_labelled - entry["n_test"]
        for side in ("online", "batch", "batch_tuned"):
            assert set(entry[side]) == {"accuracy", "macro_f1"}
            assert 0.0 <= entry[side]["macro_f1"] <= 1.0
            assert 0.0 <= entry[side]["accuracy"] <= 1.0
        # The synthetic topics are easy: both learners must get them.
        assert entry["online"]["accuracy"] > 0.85
        assert entry["batch"]["accuracy"] > 0.85
        assert entry["batch_tuned"]["accuracy"] > 0.85
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| need |" in report and "| sentiment |" in report
    assert "| online | batch | batch tuned | online - batch | online - batch tuned |" in report
    for entry in saved["tasks"].values():
        for metric, tuned in entry["batch_tuned"].items():
            online = entry["online"][metric]
            assert f"| {metric} | {online:.4f} |" in report
            assert f"| {tuned:.4f} |" in report and f"| {online - tuned:+.4f} |" in report
    assert report.count("- Batch tuned: scikit-learn TF-IDF (sublinear tf) of word 1-2-grams") == 2
    assert "character 2-5-grams within words + LinearSVC, C=" in report
    assert "by `tweet_created`" in report
    assert "300" in report and "without text (skipped): 6" in report
    for task in ("need", "sentiment"):
        image = out / f"{task}_learning_curve.png"
        assert image.read_bytes().startswith(PNG)
        assert f"]({task}_learning_curve.png)" in report
    assert calls and calls[-1][0] == calls[-1][1]
    assert all(done <= total for done, total in calls)


def test_numeric_satisfaction_from_jsonl_is_scored_by_mae(tmp_path: Path) -> None:
    rows = synthetic_rows(200, seed=1)
    source = tmp_path / "feedback.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(r | {"stars": int(r["stars"])}) for r in rows))
    out = tmp_path / "out"
    columns = LabelledColumns(
        "text", satisfaction="stars", satisfaction_scale=(1, 5), shuffle_seed=3
    )
    metrics = run_evaluation(source, columns, out=out)
    assert set(metrics["tasks"]) == {"satisfaction"}
    entry = metrics["tasks"]["satisfaction"]
    assert set(entry) == {"online", "batch", "batch_tuned", "batch_tuned_choice", "n_test"}
    assert set(entry["online"]) == {"mae"} and set(entry["batch"]) == {"mae"}
    assert set(entry["batch_tuned"]) == {"mae"}
    assert entry["batch_tuned_choice"]["alpha"] in TUNED_ALPHA
    assert entry["batch_tuned_choice"]["cv_rows"] == 196 - entry["n_test"]  # 4 of 200 without text
    assert entry["online"]["mae"] < 0.2 and entry["batch"]["mae"] < 0.2
    assert entry["batch_tuned"]["mae"] < 0.2
    assert "+ Ridge, alpha=" in (out / "report.md").read_text(encoding="utf-8")
    assert (out / "satisfaction_learning_curve.png").read_bytes().startswith(PNG)
    assert "shuffled (seed 3)" in (out / "report.md").read_text(encoding="utf-8")


def test_binary_labels_make_a_sentiment_task(tmp_path: Path) -> None:
    rng = random.Random(2)
    rows = [
        {
            "label": str(int(good)),
            "review": "".join(rng.sample("好吃很快满意" if good else "难吃太慢失望", 3)),
        }
        for good in [rng.random() < 0.4 for _ in range(120)]
    ]
    source = tmp_path / "reviews.csv"
    write_csv(source, rows)
    columns = LabelledColumns("review", satisfaction="label", shuffle_seed=0)
    metrics = run_evaluation(source, columns, out=tmp_path / "out")
    assert set(metrics["tasks"]) == {"sentiment"}
    assert metrics["tasks"]["sentiment"]["online"]["accuracy"] > 0.9


def test_detection_ordering_and_time_parsing() -> None:
    assert detect_satisfaction(["negative", "", "positive"], None)[0] == "sentiment"
    assert detect_satisfaction(["-1", "0", "1"], None)[1]("0") == "neutral"
    task, convert, note = detect_satisfaction(["0", "7", "10"], None)
    assert (task, convert("7"), note) == (
        "satisfaction",
        0.7,
        "scale 0..10 (inferred), normalized to 0..1",
    )
    with pytest.raises(ValueError, match="satisfaction labels"):
        detect_satisfaction(["happy", "sad"], None)
    with pytest.raises(ValueError, match="scale"):
        detect_satisfaction(["good"], (1, 5))

    assert parse_time("2015-02-24 11:35:52 -0800") is not None
    assert parse_time("1424800000") is not None
    rows = [
        {"t": "2/24/2015 11:35", "i": "a"},
        {"t": "", "i": "b"},
        {"t": "2/16/2015 9:05", "i": "c"},
        {"t": "2015-02-24T11:35:00+00:00", "i": "d"},
        {"t": "2/16/2015 23:59", "i": "e"},
    ]
    ordered, note = order_rows(rows, time_col="t", shuffle_seed=None)
    assert [r["i"] for r in ordered] == ["c", "e", "a", "d", "b"]  # stable; unknown last
    assert "1 rows without a readable time" in note
    with pytest.raises(ValueError, match="not both"):
        order_rows(rows, time_col="t", shuffle_seed=1)


def test_bootstrap_returns_trained_models(tmp_path: Path) -> None:
    rows = synthetic_rows(150, seed=4)
    for i, row in enumerate(rows):
        row["priority"] = "P2" if i % 2 else ""
    source = tmp_path / "history.csv"
    write_csv(source, rows)
    columns = LabelledColumns(
        "text",
        need="negativereason",
        satisfaction="airline_sentiment",
        priority="priority",
        time="tweet_created",
    )
    models = bootstrap(source, columns)
    assert set(models) == {"need", "satisfaction", "keywords", "emerging", "urgency"}
    need, satisfaction = models["need"], models["satisfaction"]
    assert isinstance(need, NeedClassifier) and isinstance(satisfaction, SatisfactionModel)
    assert isinstance(models["keywords"], KeywordExtractor)
    assert isinstance(models["emerging"], EmergingNeeds)
    assert isinstance(models["urgency"], UrgencyModel)
    with_text = [r for r in rows if r["text"]]
    assert need.version == sum(1 for r in with_text if r["negativereason"])
    assert satisfaction.version == len(with_text) == models["keywords"].version
    assert models["urgency"].version == sum(1 for r in with_text if r["priority"])
    assert need.predict_one(Example("my suitcase is lost")).label == "Lost Luggage"


class RecordingTuned(TunedTextClassifier):
    """The tuned baseline, remembering the texts it was fitted on and asked about."""

    fitted: ClassVar[list[list[str]]] = []
    predicted: ClassVar[list[list[str]]] = []

    def fit(self, xs, ys):  # type: ignore[no-untyped-def]
        RecordingTuned.fitted.append([x.text for x in xs])
        return super().fit(xs, ys)

    def predict(self, xs):  # type: ignore[no-untyped-def]
        RecordingTuned.predicted.append([x.text for x in xs])
        return super().predict(xs)


def test_the_tuned_baseline_never_sees_the_test_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tuned model is fitted (and its C cross-validated) on the first 80% of the
    stream only, and the test part changes nothing about the C it chooses."""
    rows = [r for r in synthetic_rows(400, seed=5) if r["text"]]
    for i, row in enumerate(rows):
        row["text"] += f" n{i}"  # every text unique, to tell the parts apart
    monkeypatch.setattr(models.evaluate, "TunedTextClassifier", RecordingTuned)
    choices = []
    for variant in ("as is", "test part relabelled"):
        source = tmp_path / f"{variant}.csv"
        changed = [dict(r) for r in rows]
        if variant != "as is":
            for row in changed[int(len(changed) * 0.8) :]:  # the sentiment test part
                row["airline_sentiment"] = "positive"
        write_csv(source, changed)
        RecordingTuned.fitted, RecordingTuned.predicted = [], []
        columns = LabelledColumns("text", satisfaction="airline_sentiment")
        metrics = run_evaluation(source, columns, out=tmp_path / variant)
        texts = [r["text"] for r in changed]
        cut = int(len(texts) * 0.8)
        assert RecordingTuned.fitted == [texts[:cut]]
        assert RecordingTuned.predicted == [texts[cut:]]
        choices.append(metrics["tasks"]["sentiment"]["batch_tuned_choice"])
    assert choices[0] == choices[1]
