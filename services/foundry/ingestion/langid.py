"""Language identification for the quality filter, offline.

`Py3LangidIdentifier` wraps `py3langid` (a maintained fork of Lui & Baldwin's langid.py: a
naive Bayes model over byte n-grams; 140 languages, by ISO 639-1 code where one exists and
ISO 639-3 otherwise ("yue", "arz"); about 0.1 ms a short text). Its model ships inside the wheel (`py3langid/data/model.npz.xz`), so nothing is
downloaded: it loads and classifies with the network switched off. Loading takes about 2 s,
so the model is loaded once per process, on first use, and shared.

Confidences are the model's probabilities normalized over its languages (`norm_probs=True`,
with py3langid's length-calibrated softmax). Short, informal texts (tweets, chat turns of a
few words, texts full of @-handles, hashtags and URLs) are hard for any identifier: they come
out with low confidence or the wrong language (`"lol omg"` is guessed as Uzbek at 0.09). A
language filter over such data drops many rows under the default `min_language_confidence`
of 0.5; lower it, or leave the filter off (the default), for social-media data.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

UNDETERMINED = "und"


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """The most likely language of a text (ISO 639-1, or "und") and its probability."""

    language: str
    confidence: float


class LanguageIdentifier(Protocol):
    """What the quality filter needs from a language identifier."""

    @property
    def languages(self) -> frozenset[str]:
        """The codes it can answer."""
        ...

    def identify(self, text: str) -> LanguageGuess:
        """The most likely language of `text`."""
        ...


_model: Any = None
_model_lock = threading.Lock()


def _bundled_model() -> Any:
    """py3langid's bundled model with normalized probabilities, loaded once per process."""
    global _model
    with _model_lock:
        if _model is None:
            from py3langid.langid import MODEL_FILE  # type: ignore[import-untyped]
            from py3langid.langid import LanguageIdentifier as _Model

            _model = _Model.from_model_file(MODEL_FILE, norm_probs=True)
        return _model


class Py3LangidIdentifier:
    """Language identification with py3langid's bundled model (see the module docstring)."""

    def __init__(self) -> None:
        self._model = _bundled_model()
        self._languages = frozenset(str(code) for code in self._model.labels)

    @property
    def languages(self) -> frozenset[str]:
        return self._languages

    def identify(self, text: str) -> LanguageGuess:
        if not text or text.isspace():
            return LanguageGuess(UNDETERMINED, 0.0)
        language, confidence = self._model.classify(text)
        return LanguageGuess(str(language), float(confidence))
