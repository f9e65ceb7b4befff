"""Every augmentation operator, by name (see `base.py` for the contract)."""

from __future__ import annotations

from typing import Any

from foundry.augmentation.operators.base import Family, Operator, OperatorContext, OperatorReport, Params
from foundry.augmentation.operators.eda import EDA_OPERATORS
from foundry.augmentation.operators.llm import LLM_OPERATORS
from foundry.augmentation.operators.mlm import MlmSubstitution
from foundry.augmentation.operators.ner import TOKEN_OPERATORS

_ALL: tuple[type[Operator[Any]], ...] = (*TOKEN_OPERATORS, *EDA_OPERATORS, MlmSubstitution, *LLM_OPERATORS)
OPERATORS: dict[str, type[Operator[Any]]] = {op.name: op for op in _ALL}

__all__ = [
    "OPERATORS",
    "TOKEN_OPERATORS",
    "Family",
    "Operator",
    "OperatorContext",
    "OperatorReport",
    "Params",
]
