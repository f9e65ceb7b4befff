"""Weak supervision: labeling rules declared as data (keyword, regex, gazetteer), never code.

A rule matches an item's text; for classification a match votes the rule's label for the item,
for token classification each match that falls on token boundaries becomes a span of the rule's
entity type (overlapping matches of one rule: the leftmost, then longest, wins).

Regular expressions run on the `regex` engine with a time limit per item, and patterns with a
quantified group that itself holds a quantifier (`(a+)+`, the classic catastrophic
backtracking shape) are refused up front, so a rule cannot hang the server.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import regex

from foundry.labeling.project import Project, item_text, token_offsets
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Example, Span

_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*(?:[+*]|\{\d*,)")


class RuleKind(StrEnum):
    KEYWORD = "keyword"
    REGEX = "regex"
    GAZETTEER = "gazetteer"


@dataclass(frozen=True)
class Rule:
    name: str
    label: str
    kind: RuleKind
    terms: tuple[str, ...] = ()  # keywords, gazetteer entries, or the one pattern
    case_sensitive: bool = False
    whole_word: bool = True
    group: int = 0
    entries_key: str = ""  # gazetteer: object key of more entries, one per line


@dataclass(frozen=True)
class RuleVotes:
    """What one rule said: item → label (classification) or spans (token classification)."""

    rule: Rule
    labels: dict[str, str] = field(default_factory=dict)
    spans: dict[str, tuple[Span, ...]] = field(default_factory=dict)

    @property
    def items(self) -> set[str]:
        return set(self.labels) | set(self.spans)


@dataclass(frozen=True)
class RuleStats:
    name: str
    items_covered: int
    coverage: float
    overlap: float
    conflict: float
    empirical_accuracy: float | None
    votes_by_label: dict[str, int]


def _bad(index: int, field_name: str, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        message, reason="INVALID_RULE", violations=[FieldViolation(f"rules[{index}].{field_name}", message)]
    )


def compile_rule(rule: Rule, index: int, project: Project) -> regex.Pattern[str]:
    """The rule as one compiled pattern; INVALID_ARGUMENT naming the field when it is bad."""
    if not rule.name or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", rule.name):
        raise _bad(index, "name", f"rule name {rule.name!r} must be 1-64 of A-Z a-z 0-9 . _ -")
    if rule.label not in project.labels:
        raise _bad(index, "label", f"label {rule.label!r} is not one of {list(project.labels)}")
    flags = 0 if rule.case_sensitive else regex.IGNORECASE
    if rule.kind is RuleKind.REGEX:
        if len(rule.terms) != 1 or not rule.terms[0]:
            raise _bad(index, "regex.pattern", "a regex rule needs a pattern")
        pattern = rule.terms[0]
        if _NESTED_QUANTIFIER.search(pattern):
            raise _bad(
                index,
                "regex.pattern",
                f"pattern {pattern!r} nests quantifiers; its run time cannot be bounded",
            )
        try:
            compiled = regex.compile(pattern, flags)
        except regex.error as exc:
            raise _bad(index, "regex.pattern", f"pattern {pattern!r} does not compile: {exc}") from exc
        if not 0 <= rule.group <= compiled.groups:
            raise _bad(index, "regex.group", f"group {rule.group} is not in the pattern")
        return compiled
    terms = sorted({t.strip() for t in rule.terms if t.strip()}, key=len, reverse=True)
    if not terms:
        raise _bad(index, rule.kind.value, f"a {rule.kind.value} rule needs at least one entry")
    alternation = "|".join(regex.escape(t) for t in terms)
    bounded = rule.whole_word or rule.kind is RuleKind.GAZETTEER
    return regex.compile(rf"(?<!\w)(?:{alternation})(?!\w)" if bounded else f"(?:{alternation})", flags)


def _matches(
    pattern: regex.Pattern[str], rule: Rule, example: Example, timeout_s: float, index: int
) -> list[tuple[int, int]]:
    group = rule.group if rule.kind is RuleKind.REGEX else 0
    try:
        found = [m.span(group) for m in pattern.finditer(item_text(example), timeout=timeout_s)]
    except TimeoutError as exc:
        raise _bad(
            index, "regex.pattern", f"pattern ran longer than {timeout_s} s on item {example.id!r}"
        ) from exc
    return [(s, e) for s, e in found if 0 <= s < e]


def _aligned_spans(example: Example, matches: list[tuple[int, int]], label: str) -> tuple[Span, ...]:
    offsets = token_offsets(example)
    starts = {s for s, _ in offsets}
    ends = {e for _, e in offsets}
    kept: list[Span] = []
    for start, end in sorted(matches, key=lambda m: (m[0], -m[1])):
        if start in starts and end in ends and (not kept or kept[-1].end <= start):
            kept.append(Span(start, end, label))
    return tuple(kept)


def apply_rules(
    project: Project, rules: Sequence[Rule], examples: Sequence[Example], *, timeout_s: float
) -> list[RuleVotes]:
    """Each rule's votes over the items."""
    out = []
    for index, rule in enumerate(rules):
        pattern = compile_rule(rule, index, project)
        votes = RuleVotes(rule)
        for example in examples:
            matches = _matches(pattern, rule, example, timeout_s, index)
            if not matches:
                continue
            if project.is_token_task:
                spans = _aligned_spans(example, matches, rule.label)
                if spans:
                    votes.spans[example.id] = spans
            else:
                votes.labels[example.id] = rule.label
        out.append(votes)
    names = Counter(r.name for r in rules)
    for index, rule in enumerate(rules):
        if names[rule.name] > 1:
            raise _bad(index, "name", f"rule name {rule.name!r} is used twice")
    return out


def _disagree(a: RuleVotes, b: RuleVotes, item: str) -> bool:
    if a.labels or b.labels:
        return a.labels.get(item) != b.labels.get(item)
    for x in a.spans.get(item, ()):
        for y in b.spans.get(item, ()):
            if x.start < y.end and y.start < x.end and x != y:
                return True
    return False


def statistics(
    all_votes: Sequence[RuleVotes],
    n_items: int,
    reference_labels: Mapping[str, str],
    reference_spans: Mapping[str, tuple[Span, ...]],
) -> list[RuleStats]:
    """Coverage, overlap, conflict and (against the human aggregate) accuracy per rule."""
    voters: dict[str, list[int]] = defaultdict(list)
    for r, votes in enumerate(all_votes):
        for item in votes.items:
            voters[item].append(r)
    out = []
    for r, votes in enumerate(all_votes):
        items = votes.items
        others = {item: [all_votes[o] for o in voters[item] if o != r] for item in items}
        overlap = sum(1 for item in items if others[item])
        conflict = sum(1 for item in items if any(_disagree(votes, o, item) for o in others[item]))
        by_label: Counter[str] = Counter(votes.labels.values())
        for spans in votes.spans.values():
            by_label.update(s.label for s in spans)
        accuracy: float | None = None
        if votes.labels:
            judged = [item for item in votes.labels if item in reference_labels]
            if judged:
                accuracy = sum(votes.labels[i] == reference_labels[i] for i in judged) / len(judged)
        elif votes.spans:
            judged = [item for item in votes.spans if item in reference_spans]
            total = sum(len(votes.spans[i]) for i in judged)
            if total:
                accuracy = sum(len(set(votes.spans[i]) & set(reference_spans[i])) for i in judged) / total
        denominator = max(n_items, 1)
        out.append(
            RuleStats(
                votes.rule.name,
                len(items),
                len(items) / denominator,
                overlap / denominator,
                conflict / denominator,
                accuracy,
                dict(by_label),
            )
        )
    return out
