"""`foundry label import` of a crowd CSV against the real ingestion and labeling services: a file
of (item, annotator, label) rows from four annotators imported in one command, its items named by
the user's own ids (an ingested meta field), then aggregated."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest
from labeling_helpers import start_labeling
from typer.testing import CliRunner

from foundry.api.common.v1 import refs_pb2
from foundry.api.ingestion.v1 import ingestion_service_pb2 as ingestion_pb
from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc as ingestion_grpc
from foundry.cli.main import app
from foundry.runtime.settings import Settings
from helpers.servers import ingestion_server

QUESTIONS = {  # the user's id → (question, gold label)
    "q1": ("how far away is the moon ?", "NUM"),
    "q2": ("who wrote the old man and the sea ?", "HUM"),
    "q3": ("where is the eiffel tower ?", "LOC"),
    "q4": ("how many legs does a spider have ?", "NUM"),
    "q5": ("who painted the mona lisa ?", "HUM"),
    "q6": ("what city hosts the louvre museum ?", "LOC"),
}
#: worker → their answer per question; every question's majority is its gold label
ANSWERS = {
    "w1": {"q1": "NUM", "q2": "HUM", "q3": "LOC", "q4": "NUM", "q5": "HUM", "q6": "LOC"},
    "w2": {"q1": "NUM", "q2": "LOC", "q3": "LOC", "q4": "NUM", "q5": "HUM", "q6": "LOC"},
    "w3": {"q1": "HUM", "q2": "HUM", "q3": "LOC", "q4": "NUM", "q5": "HUM", "q6": "HUM"},
    "w4": {"q1": "NUM", "q2": "HUM", "q3": "NUM", "q5": "HUM", "q6": "LOC"},
}


async def test_a_crowd_csv_with_many_annotators_in_one_import_then_aggregated(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ingestion_server(settings) as (ingestion, _):
        labeling = await start_labeling(settings)
        monkeypatch.setenv("FOUNDRY_INGESTION_ADDRESS", f"127.0.0.1:{ingestion.port}")
        monkeypatch.setenv("FOUNDRY_LABELING_ADDRESS", f"127.0.0.1:{labeling.port}")
        monkeypatch.setenv("COLUMNS", "200")
        runner = CliRunner()

        async def foundry(*args: str, code: int = 0) -> str:
            result = await asyncio.to_thread(runner.invoke, app, list(args))
            assert result.exit_code == code, (result.output, result.exception)
            return result.output

        def flat(text: str) -> str:  # the words and numbers, without the tables' rules and wrapping
            return " ".join(text.replace("│", " ").split())

        try:
            items = tmp_path / "questions.csv"
            items.write_text(
                "qid,question,gold\n"
                + "".join(f"{q},{text},{gold}\n" for q, (text, gold) in QUESTIONS.items())
            )
            await foundry(
                "ingest", f"{items}:test", "--task", "classification", "--name", "trec-crowd",
                "--field", "text=question", "--field", "label=gold", "--field", "meta=qid",
            )  # fmt: skip
            created = await foundry(
                "label", "create", "crowd", "--dataset", "trec-crowd", "--annotators", "w1"
            )
            pid = created.split("created project ", 1)[1].split()[0]

            crowd = tmp_path / "crowd.csv"
            rows = [(q, worker, label) for worker, answers in ANSWERS.items() for q, label in answers.items()]
            rows.insert(0, ("q1", "w3", "LOC"))  # replaced by w3's later answer for q1
            rows.append(("q99", "w2", "NUM"))  # no such question
            crowd.write_text("question_id,worker,answer\n" + "".join(f"{q},{w},{a}\n" for q, w, a in rows))
            flags = [
                "--item-column",
                "question_id",
                "--annotator-column",
                "worker",
                "--label-column",
                "answer",
            ]
            shown = flat(await foundry("label", "import", pid, str(crowd), *flags, "--item-key", "meta.qid"))
            assert "w1 6 6 0 0 0" in shown and "w2 7 6 1 0 0" in shown, shown
            assert "w3 6 6 0 0 1" in shown and "w4 5 5 0 0 0" in shown, shown
            assert "4 annotators 24 23 1 0 1" in shown, shown

            out = tmp_path / "aggregated.jsonl"
            agg = flat(await foundry("label", "aggregate", pid, "--method", "majority", "--out", str(out)))
            for worker in ANSWERS:
                assert worker in agg
            async with grpc.aio.insecure_channel(f"127.0.0.1:{ingestion.port}") as channel:
                request = ingestion_pb.ReadExamplesRequest(dataset=refs_pb2.DatasetRef(name="trec-crowd"))
                qid = {
                    e.id: e.meta["qid"]
                    async for batch in ingestion_grpc.IngestionServiceStub(channel).ReadExamples(request)
                    for e in batch.examples
                }
            aggregated = {
                qid[row["itemId"]]: (row["label"], row["votes"])
                for row in map(json.loads, out.read_text().splitlines())
            }
            votes = {q: sum(q in answers for answers in ANSWERS.values()) for q in QUESTIONS}
            assert aggregated == {q: (gold, votes[q]) for q, (_, gold) in QUESTIONS.items()}

            # the same file read as the example ids matches nothing; a bad key names its flag
            unmatched = flat(await foundry("label", "import", pid, str(crowd), *flags))
            assert "4 annotators 24 0 24 0 1" in unmatched, unmatched
            bad = flat(await foundry("label", "import", pid, str(crowd), *flags, "--item-key", "qid", code=1))
            assert "--item-key" in bad and "meta.FIELD" in bad
            missing = flat(await foundry("label", "import", pid, str(crowd), code=1))
            assert "no column 'item'" in missing and "--item-column" in missing

            latin = tmp_path / "crowd-latin1.csv"
            latin.write_bytes("item,annotator,label,comment\nq1,rene,NUM,très sûr\n".encode("latin-1"))
            wrong = flat(await foundry("label", "import", pid, str(latin), "--item-key", "meta.qid", code=1))
            assert "not valid utf-8" in wrong and "--encoding latin-1" in wrong, wrong
            fixed = flat(
                await foundry(
                    "label", "import", pid, str(latin), "--item-key", "meta.qid", "--encoding", "latin-1"
                )
            )
            assert "1 annotators 1 1 0 0 0" in fixed, fixed
        finally:
            await labeling.drain(0)
