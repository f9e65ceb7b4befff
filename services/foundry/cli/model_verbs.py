"""`foundry train`, `foundry models ...`, `foundry base-models ...`, `foundry predict`, and
`foundry generate` / `chat`: the model verbs."""

from __future__ import annotations

from pathlib import Path

import typer

from foundry.api.common.v1 import listing_pb2
from foundry.cli import generate as generate_mod
from foundry.cli import infer as infer_mod
from foundry.cli import model_pull as pull_mod
from foundry.cli import train as train_mod
from foundry.cli.console import console, reports_errors
from foundry.cli.corrupt import print_listing
from foundry.cli.stack import load_settings
from foundry.runtime.objectstore import ObjectStore

models_app = typer.Typer(help="Model versions made by the training service.", no_args_is_help=True)
base_models_app = typer.Typer(help="Base models training starts from.", no_args_is_help=True)


@reports_errors
def train(
    dataset: str = typer.Option(..., help="NAME or NAME@VERSION_ID of the dataset version"),
    base_model: str = typer.Option(..., "--base-model", help="imported base model: NAME or NAME@VERSION_ID"),
    task: str = typer.Option("ner", help="ner, classification, multilabel or chat"),
    name: str = typer.Option("", "--name", help="the model's name; default: the dataset's"),
    epochs: int | None = typer.Option(None, help="passes over the training split (default 3)"),
    max_steps: int | None = typer.Option(None, "--max-steps", help="optimizer steps; overrides --epochs"),
    lr: float | None = typer.Option(None, "--lr", help="peak learning rate"),
    batch_size: int | None = typer.Option(None, "--batch-size", help="examples per micro-batch"),
    lora: bool = typer.Option(False, "--lora", help="train LoRA adapters (and the task head)"),
    chat_template: str = typer.Option(
        "",
        "--chat-template",
        help="chat: a named template (chatml, llama-3, zephyr); default: the tokenizer's",
    ),
    packing: bool = typer.Option(False, "--packing", help="chat: pack short conversations into one sequence"),
    search: float | None = typer.Option(
        None,
        "--search",
        metavar="BUDGET",
        help="search learning rates and epochs on the validation split first, within BUDGET times "
        "this run's training cost (final model included), then train the best recipe",
    ),
    spec_file: Path | None = typer.Option(
        None, "--spec", help="YAML or JSON of JobSpec fields (every hyperparameter); the flags override it"
    ),
    detach: bool = typer.Option(False, "--detach", help="submit and return without following"),
    request_id: str = typer.Option("", "--request-id", help="idempotency key; default: a fresh UUID"),
) -> None:
    """Submit a training job and follow it with a live progress bar."""
    settings = load_settings()
    spec = train_mod.build_spec(
        dataset=dataset,
        base_model=base_model,
        task=task,
        name=name,
        epochs=epochs,
        max_steps=max_steps,
        learning_rate=lr,
        batch_size=batch_size,
        lora=lora,
        chat_template=chat_template,
        packing=packing,
        search_budget=search,
        spec_file=spec_file,
    )
    job = train_mod.submit(settings, spec, request_id)
    console.print(f"job {job.job_id} submitted")
    if detach:
        return
    job = train_mod.follow(settings, console, job.job_id)
    train_mod.job_summary(console, job)
    if train_mod.state_name(job.state) != "succeeded":
        raise typer.Exit(1)


@models_app.command("ls")
@reports_errors
def models_ls(
    name: str = typer.Argument("", help="only versions of this model"),
    rejected: bool = typer.Option(False, "--rejected", help="include versions that were not promoted"),
) -> None:
    """List model versions, newest first."""
    corrupt: list[listing_pb2.CorruptEntry] = []
    versions = train_mod.list_models(load_settings(), name, rejected, corrupt=corrupt)
    print_listing(console, train_mod.models_table(versions), corrupt)


@models_app.command("show")
@reports_errors
def models_show(
    ref: str = typer.Argument(..., help="NAME (latest promoted) or NAME@VERSION_ID"),
    as_json: bool = typer.Option(False, "--json", help="print the whole ModelVersion as JSON"),
    strict: bool = typer.Option(False, "--strict", help="also the per-type table in strict IOB2 mode"),
) -> None:
    """A model version: metrics (both F1 modes, per type / class), labels, artifacts."""
    version = train_mod.get_model(load_settings(), ref)
    if as_json:
        console.print_json(train_mod.dump_json(version))
        return
    train_mod.show_model(console, version, strict_per_label=strict)


@models_app.command("pull")
@reports_errors
def models_pull(
    ref: str = typer.Argument(..., help="NAME (latest promoted) or NAME@VERSION_ID"),
    folder: Path = typer.Argument(..., help="where the artifacts go (created if missing)"),
    kind: list[str] = typer.Option(
        [],
        "--kind",
        help="only these artifact kinds (repeatable): checkpoint, onnx_fp32, metrics_report, ...",
    ),
) -> None:
    """Download a version's artifacts (checkpoint, ONNX, metrics, curves, ...), sha256-verified."""
    settings = load_settings()
    version = train_mod.get_model(settings, ref)
    pulled = pull_mod.pull(ObjectStore.from_settings(settings), console, version, folder, kind)
    for item in pulled:
        console.print(f"{item.path}  {item.kind}  {item.size_bytes:,} bytes  sha256 {item.sha256[:12]} ok")
    console.print(f"{len(pulled)} artifact(s) of {version.name}@{version.version_id[:12]} in {folder}")


@models_app.command("load")
@reports_errors
def models_load(
    ref: str = typer.Argument(..., help="NAME (latest promoted) or NAME@VERSION_ID"),
    int8: bool = typer.Option(False, "--int8", help="serve the int8 graph instead of fp32"),
    max_batch_size: int | None = typer.Option(None, "--max-batch-size", help="largest dynamic batch"),
    max_queue_delay_ms: int | None = typer.Option(None, "--max-queue-delay-ms", help="batch fill wait"),
) -> None:
    """Load a model version into the inference service (ready on return)."""
    options = infer_mod.load_options(max_batch_size, max_queue_delay_ms)
    loaded = infer_mod.load_model(load_settings(), ref, int8=int8, options=options)
    console.print(infer_mod.loaded_table([loaded]))


@models_app.command("unload")
@reports_errors
def models_unload(
    ref: str = typer.Argument(..., help="NAME@VERSION_ID"),
    variant: str = typer.Option("all", help="fp32, int8 or all"),
) -> None:
    """Unload a model version from the inference service (after its in-flight requests)."""
    int8 = None if variant == "all" else variant == "int8"
    console.print(infer_mod.loaded_table(infer_mod.unload_model(load_settings(), ref, int8=int8)))


@models_app.command("loaded")
@reports_errors
def models_loaded(name: str = typer.Argument("", help="only this model")) -> None:
    """The models the inference service has loaded."""
    console.print(infer_mod.loaded_table(infer_mod.list_loaded(load_settings(), name)))


@reports_errors
def predict(
    model: str = typer.Argument(..., help="a loaded model: NAME or NAME@VERSION_ID"),
    texts: list[str] = typer.Argument(..., help="the texts"),
    int8: bool = typer.Option(False, "--int8", help="ask the int8 variant"),
    words: bool = typer.Option(False, "--words", help="each text is space-separated words (pre-tokenized)"),
    top_k: int = typer.Option(1, "--top-k", help="classification: labels shown"),
) -> None:
    """Entities (NER) or labels (classification) for texts, from the inference service."""
    response = infer_mod.predict(
        load_settings(), model, texts, int8=True if int8 else None, words=words, top_k=top_k
    )
    console.print(infer_mod.predictions_table(response, texts))


def _decoding(
    max_new_tokens: int,
    stop: list[str],
    temperature: float | None,
    top_p: float | None,
    seed: int | None,
    int8: bool,
) -> generate_mod.Decoding:
    return generate_mod.Decoding(max_new_tokens, tuple(stop), temperature, top_p, seed, int8)


@reports_errors
def generate(
    model: str = typer.Argument(..., help="a loaded chat model: NAME or NAME@VERSION_ID"),
    prompt: str = typer.Argument(..., help="the prompt (as a user turn; --raw sends it as is)"),
    raw: bool = typer.Option(False, "--raw", help="send the prompt as is, without the chat template"),
    system: str = typer.Option("", "--system", help="a system prompt"),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens"),
    stop: list[str] = typer.Option([], "--stop", help="a stop sequence (repeatable)"),
    temperature: float | None = typer.Option(None, help="sample at this temperature (default: greedy)"),
    top_p: float | None = typer.Option(None, "--top-p", help="nucleus sampling"),
    seed: int | None = typer.Option(None, help="sampling seed (same seed, same reply)"),
    int8: bool = typer.Option(False, "--int8", help="ask the int8 variant"),
) -> None:
    """Generate a reply from a chat model, streamed to the terminal."""
    decoding = _decoding(max_new_tokens, stop, temperature, top_p, seed, int8)
    turns = [] if raw else generate_mod.Conversation(system, [("user", prompt)]).messages()
    responses = generate_mod.stream(
        load_settings(), model, decoding, prompt=prompt if raw else "", messages=turns
    )
    generate_mod.print_stream(console, responses)


@reports_errors
def chat(
    model: str = typer.Argument(..., help="a loaded chat model: NAME or NAME@VERSION_ID"),
    system: str = typer.Option("", "--system", help="a system prompt"),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens"),
    stop: list[str] = typer.Option([], "--stop", help="a stop sequence (repeatable)"),
    temperature: float | None = typer.Option(None, help="sample at this temperature (default: greedy)"),
    top_p: float | None = typer.Option(None, "--top-p", help="nucleus sampling"),
    seed: int | None = typer.Option(None, help="sampling seed"),
    int8: bool = typer.Option(False, "--int8", help="ask the int8 variant"),
) -> None:
    """Chat with a model interactively; replies stream, the conversation is kept."""
    decoding = _decoding(max_new_tokens, stop, temperature, top_p, seed, int8)
    generate_mod.chat_loop(console, load_settings(), model, decoding, system)


@base_models_app.command("import")
@reports_errors
def base_models_import(
    folder: Path = typer.Argument(..., help="a Hugging Face model folder (safetensors weights)"),
    name: str = typer.Option(..., "--name", help="name to import under"),
    source: str = typer.Option("", help="where it came from, for the record"),
) -> None:
    """Stream a local model folder to the training service."""
    response = train_mod.import_base_model(load_settings(), console, folder, name, source)
    verb = "imported" if response.created else "already imported"
    console.print(f"{verb}: {response.base_model.name}@{response.base_model.version_id}")
    console.print(train_mod.base_models_table([response.base_model]))


@base_models_app.command("ls")
@reports_errors
def base_models_ls(name: str = typer.Argument("", help="only versions of this base model")) -> None:
    """List imported base models."""
    corrupt: list[listing_pb2.CorruptEntry] = []
    models = train_mod.list_base_models(load_settings(), name, corrupt=corrupt)
    print_listing(console, train_mod.base_models_table(models), corrupt)
