"""Offline, explainable intent detection for a conversation's first inbound text (French and English). Pure.

Two kinds of evidence per intent, both computed on normalized tokens (lower-cased, accents folded, stop words dropped,
light stemming so that "factures", "facture" and "factur" meet):
- keyword hits: each keyword (one or several words) whose every token appears in the text, exactly or through a fuzzy
  match (Damerau-Levenshtein: one edit in a stem of 6+ letters, two from 9) that absorbs typos;
- similarity to the intent's examples: TF-IDF cosine over all the examples of the spec set.

They combine as independent evidence: keyword score k = 1 − Π(1 − w) with w = 0.6 per exact single-word hit (0.75
for a multi-word keyword, scaled by the fuzzy ratio), example score e = best cosine, and score = 1 − (1 − k)(1 − e).
The best intent's confidence is its score less half the runner-up's share (score × (1 − 0.5 × second / best)), so a
text that fits two intents equally is never confident. Below the threshold the detection has no key.

The vocabulary, IDF and inverted index of a spec set are built once and cached (keyed by the specs' contents).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

# Typos: one edit (insertion, deletion, substitution or transposition) in a stem of 6+ letters, two from 9 letters.
# Shorter stems must match exactly: "chang" and "charg" are one edit apart and mean different things.
FUZZY_MIN_LENGTH = 6
FUZZY_TWO_EDITS_LENGTH = 9
SINGLE_KEYWORD_WEIGHT = 0.6
PHRASE_KEYWORD_WEIGHT = 0.75

# Negations ("pas", "plus") are kept: "ne marche plus" is what a broken box sounds like.
_FRENCH_STOP_WORDS = (
    "a au aux avec ce ces cet cette dans de des du elle en est et etre eu il ils je j la le les leur lui ma mais "
    "me mes moi mon ne nous on ou par pour qu que qui sa se ses son sur ta te tes toi ton tu un une vos votre vous "
    "y c d l m n s t ai as avez avons ont suis sont tres bien bonjour merci svp stp veux voudrais comment "
    "pourquoi quand quel quelle quels quelles ici"
)
_ENGLISH_STOP_WORDS = (
    "an and are am at be been but by do does did for from had has have hasn hasnt haven havent i im is isn it its "
    "me my no not of on or our so than that the their them then there this to was wasn were what when which who "
    "will with would you your don doesn didn can cant please hello hi thanks where how why want like need find"
)
STOP_WORDS = frozenset(_FRENCH_STOP_WORDS.split() + _ENGLISH_STOP_WORDS.split())
# Longest first; each applies only to a token long enough to keep a recognisable stem.
SUFFIXES = (("ements", 7), ("ement", 6), ("ations", 7), ("ation", 6), ("ing", 6), ("ed", 5), ("er", 6), ("es", 5))
TOKEN = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lower-case, accents removed (NFKD, combining marks dropped)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def stem(token: str) -> str:
    """Light stemming of plural and feminine endings and a few verb forms: "factures" → "factur"."""
    for suffix, min_length in SUFFIXES:
        if len(token) >= min_length and token.endswith(suffix):
            token = token[: -len(suffix)]
            break
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        token = token[:-1]
    while len(token) > 3 and token.endswith("e"):
        token = token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    """Normalized tokens: folded, split on anything but letters and digits (so "l'abonnement" → "abonnement")."""
    return [stem(t) for t in TOKEN.findall(fold(text)) if t not in STOP_WORDS and len(t) > 1]


@dataclass(frozen=True)
class IntentSpec:
    key: str
    keywords: list[str]
    examples: list[str]


@dataclass(frozen=True)
class Detection:
    key: str | None
    confidence: float


@dataclass(frozen=True)
class IntentEvidence:
    key: str
    score: float
    keywords: list[str] = field(default_factory=list)  # the keywords that matched, as written in the spec
    example: str | None = None  # the closest example
    example_similarity: float = 0.0


@dataclass(frozen=True)
class Explanation:
    detection: Detection
    tokens: list[str]
    # Every intent with some evidence, best first.
    candidates: list[IntentEvidence]


@dataclass(frozen=True)
class _Keyword:
    text: str
    tokens: tuple[str, ...]


@dataclass
class _Index:
    keys: list[str]
    keywords: list[list[_Keyword]]  # per intent
    examples: list[tuple[int, str]]  # (intent index, example text)
    postings: dict[str, list[tuple[int, float]]]  # term → (example index, tf-idf weight of the normalized vector)
    idf: dict[str, float]
    vocabulary: list[str]
    fuzzy_vocabulary: list[str]  # the terms long enough for typo matching


def _spec_key(specs: Sequence[IntentSpec]) -> tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]:
    return tuple((s.key, tuple(s.keywords), tuple(s.examples)) for s in specs)


@lru_cache(maxsize=32)
def _index(specs: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]) -> _Index:
    keys = [key for key, _keywords, _examples in specs]
    keywords = [_keywords(kws) for _key, kws, _examples in specs]
    examples = [(i, example) for i, (_key, _kws, exs) in enumerate(specs) for example in exs]
    documents = [tokenize(text) for _i, text in examples]
    frequency: dict[str, int] = defaultdict(int)
    for document in documents:
        for term in set(document):
            frequency[term] += 1
    count = len(documents)
    idf = {term: math.log((count + 1) / (df + 1)) + 1.0 for term, df in frequency.items()}
    postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for number, document in enumerate(documents):
        weights = _weights(document, idf)
        for term, weight in weights.items():
            postings[term].append((number, weight))
    vocabulary = sorted(set(idf) | {t for kws in keywords for kw in kws for t in kw.tokens})
    fuzzy = [term for term in vocabulary if len(term) >= FUZZY_MIN_LENGTH]
    return _Index(keys, keywords, examples, dict(postings), idf, vocabulary, fuzzy)


def _keywords(texts: Sequence[str]) -> list[_Keyword]:
    """Keywords as token tuples; two that normalize alike ("facture", "factures") count once."""
    unique: dict[tuple[str, ...], _Keyword] = {}
    for text in texts:
        tokens = tuple(tokenize(text))
        if tokens and tokens not in unique:
            unique[tokens] = _Keyword(text, tokens)
    return list(unique.values())


def _weights(tokens: Sequence[str], idf: dict[str, float]) -> dict[str, float]:
    counts: dict[str, int] = defaultdict(int)
    for token in tokens:
        if token in idf:
            counts[token] += 1
    vector = {term: n * idf[term] for term, n in counts.items()}
    norm = math.sqrt(sum(w * w for w in vector.values())) or 1.0
    return {term: w / norm for term, w in vector.items()}


def _resolve_tokens(tokens: list[str], index: _Index) -> dict[str, float]:
    """Vocabulary terms the text contains, with how sure (1.0 exact, the fuzzy ratio / 100 otherwise)."""
    known = set(index.vocabulary)
    found: dict[str, float] = {}
    for token in tokens:
        if token in known:
            found[token] = 1.0
        elif len(token) >= FUZZY_MIN_LENGTH - 1:
            for term, distance, _position in process.extract(
                token, index.fuzzy_vocabulary, scorer=DamerauLevenshtein.distance, score_cutoff=2, limit=5
            ):
                if distance <= (1 if len(term) < FUZZY_TWO_EDITS_LENGTH else 2):
                    sureness = 1.0 - distance / max(len(term), len(token))
                    found[term] = max(found.get(term, 0.0), sureness)
    return found


def _evidence(text: str, specs: Sequence[IntentSpec]) -> tuple[list[str], list[IntentEvidence]]:
    index = _index(_spec_key(specs))
    tokens = tokenize(text)
    found = _resolve_tokens(tokens, index)
    similarity: dict[int, float] = defaultdict(float)
    query = _weights([t for t in found for _n in range(tokens.count(t) or 1)], index.idf)
    for term, weight in query.items():
        for number, example_weight in index.postings.get(term, ()):
            similarity[number] += weight * example_weight * found[term]
    best_example: dict[int, tuple[float, str | None]] = {}
    for number, value in similarity.items():
        intent, text_of_example = index.examples[number]
        if value > best_example.get(intent, (0.0, None))[0]:
            best_example[intent] = (min(value, 1.0), text_of_example)
    evidence = []
    for intent, key in enumerate(index.keys):
        missing = 1.0
        matched = []
        for keyword in index.keywords[intent]:
            if all(t in found for t in keyword.tokens):
                weight = PHRASE_KEYWORD_WEIGHT if len(keyword.tokens) > 1 else SINGLE_KEYWORD_WEIGHT
                missing *= 1.0 - weight * min(found[t] for t in keyword.tokens)
                matched.append(keyword.text)
        example_similarity, example = best_example.get(intent, (0.0, None))
        score = 1.0 - missing * (1.0 - example_similarity)
        if score > 0:
            evidence.append(IntentEvidence(key, round(score, 4), matched, example, round(example_similarity, 4)))
    evidence.sort(key=lambda e: -e.score)
    return tokens, evidence


def _decide(evidence: list[IntentEvidence], threshold: float) -> Detection:
    if not evidence:
        return Detection(None, 0.0)
    best = evidence[0].score
    second = evidence[1].score if len(evidence) > 1 else 0.0
    confidence = round(best * (1.0 - 0.5 * second / best), 4)
    return Detection(evidence[0].key if confidence >= threshold else None, confidence)


def detect_intent(text: str, specs: Sequence[IntentSpec], *, threshold: float = 0.5) -> Detection:
    """The intent `text` most likely expresses, with a confidence in [0, 1]; key None below `threshold`."""
    _tokens, evidence = _evidence(text, specs)
    return _decide(evidence, threshold)


def explain_detection(text: str, specs: Sequence[IntentSpec], *, threshold: float = 0.5) -> Explanation:
    """The detection and why: the text's tokens, and per intent the keywords that matched and the closest example."""
    tokens, evidence = _evidence(text, specs)
    return Explanation(_decide(evidence, threshold), tokens, evidence)
