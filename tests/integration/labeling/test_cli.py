"""`foundry label ...` against the real labeling service: create, ls, next, submit, import
(CoNLL), rules, aggregate (reliability table and plot), agreement, export, and a bad input."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from labeling_helpers import start_labeling
from typer.testing import CliRunner

from foundry.cli.main import app
from foundry.runtime import datasets
from foundry.runtime.examples import Example, Split, Task
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings

SENTENCES = [
    (["Alice", "flew", "to", "Paris"], ["B-person", "O", "O", "B-location"]),
    (["Bob", "Marley", "sang", "in", "London"], ["B-person", "I-person", "O", "O", "B-location"]),
    (["Rome", "is", "lovely"], ["B-location", "O", "O"]),
    (["nothing", "here"], ["O", "O"]),
]


async def test_label_cli_end_to_end(
    settings: Settings, store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    examples = [
        Example(id=f"s{i}", split=Split.TEST, tokens=t, text=" ".join(t))
        for i, (t, _) in enumerate(SENTENCES)
    ]
    datasets.write_dataset_version(
        store, "ner", Task.TOKEN_CLASSIFICATION, examples, label_set=["person", "location"]
    )
    server = await start_labeling(settings)
    monkeypatch.setenv("FOUNDRY_LABELING_ADDRESS", f"127.0.0.1:{server.port}")
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    async def foundry(*args: str, code: int = 0) -> str:
        result = await asyncio.to_thread(runner.invoke, app, ["label", *args])
        assert result.exit_code == code, (result.output, result.exception)
        return result.output

    def flat(text: str) -> str:  # table titles wrap at the console's width
        return " ".join(text.split())

    try:
        created = await foundry(
            "create", "ner-cli", "--dataset", "ner", "--annotators", "ann,bob", "--overlap", "2"
        )
        pid = created.split("created project ", 1)[1].split()[0]
        assert "ner-cli" in await foundry("ls", "--dataset", "ner")
        tasks = [
            json.loads(line)
            for line in (await foundry("next", pid, "--annotator", "ann", "--json")).splitlines()
        ]
        assert sorted(t["itemId"] for t in tasks) == ["s0", "s1", "s2", "s3"]

        ann = tmp_path / "ann.jsonl"
        ann.write_text(
            "\n".join(json.dumps({"itemId": f"s{i}", "tags": tags}) for i, (_, tags) in enumerate(SENTENCES))
        )
        assert "stored 4, unchanged 0" in await foundry("submit", pid, str(ann), "--annotator", "ann")
        assert "stored 0, unchanged 4" in await foundry("submit", pid, str(ann), "--annotator", "ann")
        bob = tmp_path / "bob.jsonl"  # bob misses London and calls Rome a person
        bob_tags = [
            SENTENCES[0][1],
            ["B-person", "I-person", "O", "O", "O"],
            ["B-person", "O", "O"],
            ["O", "O"],
        ]
        bob.write_text("\n".join(json.dumps({"itemId": f"s{i}", "tags": t}) for i, t in enumerate(bob_tags)))
        await foundry("submit", pid, str(bob), "--annotator", "bob")

        conll = tmp_path / "gold.conll"
        conll.write_text(
            "\n\n".join("\n".join(f"{w} {g}" for w, g in zip(t, g_, strict=True)) for t, g_ in SENTENCES)
            + "\n"
        )
        assert "imported 4, unmatched 0" in await foundry("import", pid, str(conll), "--annotator", "gold")

        rules = tmp_path / "rules.yaml"
        rules.write_text(
            "- name: cities\n  label: location\n  gazetteer:\n    entries: [paris, london, rome]\n"
        )
        shown = await foundry("rules", pid, str(rules), "--store")
        assert "cities" in shown and "3 of 4 items covered, 3 votes stored" in flat(shown)

        plot = tmp_path / "reliability.png"
        out = tmp_path / "items.jsonl"
        agg = await foundry("aggregate", pid, "--rules", "--plot", str(plot), "--out", str(out))
        assert "annotator reliability (dawid_skene, span level, 4 items" in flat(agg)
        for name in ("ann", "bob", "gold", "rule:cities"):
            assert name in agg
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        items = {row["itemId"]: row for row in map(json.loads, out.read_text().splitlines())}
        assert items["s2"]["tags"] == ["B-location", "O", "O"]

        agreement = await foundry("agreement", pid)
        assert "Fleiss' kappa" in flat(agreement) and "Krippendorff's alpha" in flat(agreement)
        assert "each annotator against the aggregate" in flat(agreement)
        row = next(line for line in agreement.splitlines() if "ann" in line and "gold" in line)
        assert "1.000" in row  # ann and gold agree on everything

        exported = await foundry("export", pid, "--output", "ner-labeled", "--method", "majority")
        assert "exported 4 items to ner-labeled@" in flat(exported)

        bad = await foundry("aggregate", pid, "--method", "best", code=1)
        assert "--method" in bad and "dawid-skene" in flat(bad)
        missing = await foundry("next", pid, "--annotator", "zed", code=1)
        assert "INVALID_ARGUMENT" in missing and "zed" in missing
    finally:
        await server.drain(0)
