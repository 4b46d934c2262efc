"""Intent detection on a conversation's first text, French and English: keywords, typos, accents, examples."""

from __future__ import annotations

import pytest

from routing.intent_detection import IntentSpec, detect_intent, explain_detection, stem, tokenize

SPECS = [
    IntentSpec(
        "billing",
        ["facture", "facturation", "prélèvement", "remboursement", "invoice", "charged", "bill", "refund"],
        ["ma facture est fausse", "I was charged twice", "erreur sur ma facture", "wrong amount on my invoice"],
    ),
    IntentSpec(
        "delivery",
        ["colis", "livraison", "parcel", "delivery", "package", "suivi"],
        ["où est mon colis ?", "my parcel hasn't arrived", "ma livraison est en retard", "where is my package"],
    ),
    IntentSpec(
        "cancellation",
        ["résilier", "résiliation", "cancel", "abonnement", "unsubscribe"],
        ["je veux résilier mon abonnement", "cancel my subscription", "comment résilier"],
    ),
    IntentSpec(
        "technical",
        ["box", "internet", "connexion", "panne", "wifi", "down", "ne marche plus", "mot de passe"],
        ["la box ne marche plus", "internet is down", "plus de connexion wifi"],
    ),
]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("ma facture est fausse", "billing"),
        ("I was charged twice", "billing"),
        ("où est mon colis ?", "delivery"),
        ("my parcel hasn't arrived", "delivery"),
        ("je veux résilier mon abonnement", "cancellation"),
        ("cancel my subscription", "cancellation"),
        ("la box ne marche plus", "technical"),
        ("internet is down", "technical"),
    ],
)
def test_it_recognizes_french_and_english_requests(text: str, intent: str) -> None:
    detection = detect_intent(text, SPECS)
    assert detection.key == intent
    assert detection.confidence >= 0.9


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("factur erronée", "billing"),
        ("factrue erronée", "billing"),
        ("my parcle hasnt arived", "delivery"),
        ("canel my subscripton", "cancellation"),
    ],
)
def test_it_forgives_typos(text: str, intent: str) -> None:
    assert detect_intent(text, SPECS).key == intent


def test_it_reads_text_typed_without_accents_or_in_capitals() -> None:
    assert detect_intent("ou est mon colis", SPECS).key == "delivery"
    assert detect_intent("JE VEUX RESILIER", SPECS).key == "cancellation"


@pytest.mark.parametrize(
    "text",
    ["quelle belle journée", "Bonjour, j'ai une question", "my cat is cute", "changer de forfait", "le code promo", ""],
)
def test_it_detects_nothing_in_unrelated_text(text: str) -> None:
    detection = detect_intent(text, SPECS)
    assert detection.key is None
    assert detection.confidence < 0.5


def test_it_is_more_confident_with_clearer_evidence() -> None:
    clear = detect_intent("ma facture est fausse", SPECS).confidence
    typo = detect_intent("factrue erronée", SPECS).confidence
    unrelated = detect_intent("quelle belle journée", SPECS).confidence
    assert 1.0 >= clear > typo > unrelated >= 0.0


def test_it_is_not_confident_when_two_intents_fit_equally() -> None:
    mixed = detect_intent("ma facture et mon colis", SPECS, threshold=0.6)
    assert mixed.key is None
    assert mixed.confidence < detect_intent("où est mon colis ?", SPECS).confidence


def test_it_applies_the_threshold_it_is_given() -> None:
    assert detect_intent("factrue erronée", SPECS, threshold=0.95).key is None
    assert detect_intent("factrue erronée", SPECS, threshold=0.5).key == "billing"


def test_it_explains_which_keywords_and_example_matched() -> None:
    explanation = explain_detection("Bonjour, ma facture est fausse", SPECS)
    best = explanation.candidates[0]
    assert explanation.detection.key == "billing"
    assert best.key == "billing"
    assert best.keywords == ["facture"]
    assert best.example == "ma facture est fausse"
    assert best.example_similarity == pytest.approx(1.0)
    assert explanation.tokens == ["factur", "fauss"]


def test_it_matches_multi_word_keywords_only_when_every_word_is_there() -> None:
    assert "ne marche plus" in explain_detection("le wifi ne marche plus", SPECS).candidates[0].keywords
    assert "ne marche plus" not in explain_detection("la box marche", SPECS).candidates[0].keywords
    assert detect_intent("j'ai perdu mon mot de passe", SPECS).key == "technical"
    assert detect_intent("un mot gentil", SPECS).key is None


def test_it_stems_plural_and_feminine_endings() -> None:
    assert stem("factures") == stem("facture") == "factur"
    assert tokenize("Les factures erronées de l'abonnement") == ["factur", "erron", "abonn"]
