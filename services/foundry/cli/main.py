"""`foundry`: the local stack, the demo, and one verb per RPC family."""

from __future__ import annotations

import sys
from pathlib import Path

import grpc
import typer
from rich.console import Console
from rich.table import Table

from foundry.api.ingestion.v1 import ingest_recipe_pb2
from foundry.cli import augment as augment_mod
from foundry.cli import demo as demo_mod
from foundry.cli import generate as generate_mod
from foundry.cli import infer as infer_mod
from foundry.cli import ingest as ingest_mod
from foundry.cli import label as label_mod
from foundry.cli import stack as stack_mod
from foundry.cli import train as train_mod
from foundry.runtime.errors import FoundryError
from foundry.runtime.settings import load_settings

app = typer.Typer(help="SFT Foundry: data → augment → label → train → export → serve.", no_args_is_help=True)
stack_app = typer.Typer(
    help="The local stack: an embedded S3 server and the five services.", no_args_is_help=True
)
app.add_typer(stack_app, name="stack")
datasets_app = typer.Typer(help="Dataset versions stored by the ingestion service.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
models_app = typer.Typer(help="Model versions made by the training service.", no_args_is_help=True)
app.add_typer(models_app, name="models")
base_models_app = typer.Typer(help="Base models training starts from.", no_args_is_help=True)
app.add_typer(base_models_app, name="base-models")
app.add_typer(label_mod.app, name="label")
console = Console()


def _fail(error: FoundryError) -> None:
    console.print(f"[red]error:[/red] {error}")
    raise typer.Exit(1)


def _health_table() -> bool:
    rows = stack_mod.status(load_settings())
    table = Table(title="SFT Foundry services")
    for column in ("service", "address", "pid", "health"):
        table.add_column(column)
    for row in rows:
        colour = "green" if row.status == "SERVING" else "red"
        table.add_row(row.name, row.address, str(row.pid or "-"), f"[{colour}]{row.status}[/{colour}]")
    console.print(table)
    return all(r.status == "SERVING" for r in rows)


@stack_app.command("up")
def stack_up(timeout_s: float = typer.Option(90.0, help="how long to wait for SERVING")) -> None:
    """Start the S3 server (unless FOUNDRY_S3_ENDPOINT is set) and every service; wait until SERVING."""
    settings = load_settings()
    with console.status("starting the stack..."):
        try:
            state = stack_mod.up(settings, timeout_s=timeout_s)
        except FoundryError as exc:
            _fail(exc)
    console.print(f"object store: {state.s3_endpoint} (bucket {settings.s3_bucket})")
    _health_table()


@stack_app.command("down")
def stack_down() -> None:
    """Drain and stop every service, then the embedded S3 server."""
    stopped = stack_mod.down(load_settings())
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@stack_app.command("status")
def stack_status() -> None:
    """Each service's health, as a plain gRPC health client sees it."""
    if not _health_table():
        raise typer.Exit(1)


@app.command()
def demo(
    keep: bool = typer.Option(False, help="leave the stack running afterwards"),
    full: bool = typer.Option(False, help="train on all of WNUT-17 for 3 epochs (slower)"),
) -> None:
    """Run the main job end to end on the embedded default."""
    try:
        demo_mod.run(load_settings(), console, keep_stack=keep, full=full)
    except FoundryError as exc:
        _fail(exc)


FORMATS: dict[str, ingest_recipe_pb2.Format.ValueType] = {
    name.removeprefix("FORMAT_").lower().replace("_", "-"): number
    for name, number in ingest_recipe_pb2.Format.items()
    if number != 0
}


@app.command()
def ingest(
    files: list[str] = typer.Argument(..., help="FILE or FILE:SPLIT (split: train, validation/dev, test)"),
    name: str = typer.Option(..., "--name", help="dataset name"),
    task: str = typer.Option("ner", help="ner, classification, multilabel or chat"),
    fmt: str = typer.Option("", "--format", help=f"one of {', '.join(FORMATS)}; default: from the file name"),
    recipe: Path | None = typer.Option(None, help="ingest recipe (YAML or JSON; IngestRecipe fields)"),
    policy: str = typer.Option("", help="reject-file (default) or drop-row"),
    pii: bool = typer.Option(False, help="mask personal data"),
    seed: int | None = typer.Option(None, help="split seed"),
    plot: Path | None = typer.Option(None, help="write the label distribution plot here (PNG)"),
) -> None:
    """Upload files to the ingestion service and show the new version's statistics."""
    settings = load_settings()
    overrides: dict[str, object] = {}
    if policy:
        overrides["validation.policy"] = "VALIDATION_POLICY_" + policy.upper().replace("-", "_")
    if pii:
        overrides["pii.enabled"] = True
    if seed is not None:
        overrides["split.seed"] = seed
    try:
        if fmt and fmt not in FORMATS:
            raise FoundryError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
        response = ingest_mod.upload(
            settings,
            console,
            [ingest_mod.FileArg.parse(f) for f in files],
            name=name,
            task=ingest_mod.parse_task(task),
            fmt=FORMATS.get(fmt, ingest_recipe_pb2.FORMAT_UNSPECIFIED),
            recipe=ingest_mod.load_recipe(recipe, overrides),
        )
    except FoundryError as exc:
        _fail(exc)
    except grpc.RpcError as exc:
        _rpc_fail(exc)
    ingest_mod.response_summary(console, response)
    written = ingest_mod.show(console, response.dataset_version, plot)
    if written:
        console.print(f"plot: {written}")


@datasets_app.command("ls")
def datasets_ls(
    name: str = typer.Argument("", help="all versions of this dataset; default: newest of each"),
) -> None:
    """List dataset versions."""
    try:
        console.print(ingest_mod.versions_table(ingest_mod.list_datasets(load_settings(), name)))
    except grpc.RpcError as exc:
        _rpc_fail(exc)


@datasets_app.command("show")
def datasets_show(
    ref: str = typer.Argument(..., help="NAME or NAME@VERSION_ID"),
    plot: Path | None = typer.Option(None, help="write the label distribution plot here (PNG)"),
    as_json: bool = typer.Option(False, "--json", help="print the whole DatasetVersion as JSON"),
) -> None:
    """A version's statistics: step counts, labels per split, duplicates, leakage, PII."""
    name, _, version_id = ref.partition("@")
    try:
        version = ingest_mod.get_dataset(load_settings(), name, version_id)
    except grpc.RpcError as exc:
        _rpc_fail(exc)
    if as_json:
        console.print_json(ingest_mod.dump_json(version))
        return
    written = ingest_mod.show(console, version, plot)
    if written:
        console.print(f"plot: {written}")


@app.command()
def augment(
    dataset: str = typer.Argument(..., help="NAME or NAME@VERSION_ID of the dataset version to augment"),
    recipe: Path = typer.Option(..., help="augmentation recipe (YAML or JSON; Recipe fields)"),
    output: str = typer.Option("", help="name of the new version's dataset (default: the input's)"),
) -> None:
    """Apply a recipe with the augmentation service; show the counts per operator."""
    settings = load_settings()
    try:
        response = augment_mod.augment(settings, console, dataset, augment_mod.load_recipe(recipe), output)
    except FoundryError as exc:
        _fail(exc)
    except grpc.RpcError as exc:
        _rpc_fail(exc)
    augment_mod.summary(console, response)


@app.command()
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
    spec_file: Path | None = typer.Option(
        None, "--spec", help="YAML or JSON of JobSpec fields (every hyperparameter); the flags override it"
    ),
    detach: bool = typer.Option(False, "--detach", help="submit and return without following"),
    request_id: str = typer.Option("", "--request-id", help="idempotency key; default: a fresh UUID"),
) -> None:
    """Submit a training job and follow it with a live progress bar."""
    settings = load_settings()
    try:
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
            spec_file=spec_file,
        )
        job = train_mod.submit(settings, spec, request_id).job
        console.print(f"job {job.job_id} submitted")
        if detach:
            return
        job = train_mod.follow(settings, console, job.job_id)
    except FoundryError as exc:
        _fail(exc)
    except grpc.RpcError as exc:
        _rpc_fail(exc)
    train_mod.job_summary(console, job)
    if train_mod.state_name(job.state) != "succeeded":
        raise typer.Exit(1)


@models_app.command("ls")
def models_ls(
    name: str = typer.Argument("", help="only versions of this model"),
    rejected: bool = typer.Option(False, "--rejected", help="include versions that were not promoted"),
) -> None:
    """List model versions, newest first."""
    try:
        console.print(train_mod.models_table(train_mod.list_models(load_settings(), name, rejected)))
    except grpc.RpcError as exc:
        _rpc_fail(exc)


@models_app.command("show")
def models_show(
    ref: str = typer.Argument(..., help="NAME (latest promoted) or NAME@VERSION_ID"),
    as_json: bool = typer.Option(False, "--json", help="print the whole ModelVersion as JSON"),
) -> None:
    """A model version: metrics, labels, artifacts."""
    try:
        version = train_mod.get_model(load_settings(), ref)
    except grpc.RpcError as exc:
        _rpc_fail(exc)
    if as_json:
        console.print_json(train_mod.dump_json(version))
        return
    train_mod.show_model(console, version)


@models_app.command("load")
def models_load(
    ref: str = typer.Argument(..., help="NAME (latest promoted) or NAME@VERSION_ID"),
    int8: bool = typer.Option(False, "--int8", help="serve the int8 graph instead of fp32"),
    max_batch_size: int | None = typer.Option(None, "--max-batch-size", help="largest dynamic batch"),
    max_queue_delay_ms: int | None = typer.Option(None, "--max-queue-delay-ms", help="batch fill wait"),
) -> None:
    """Load a model version into the inference service (ready on return)."""
    options = infer_mod.load_options(max_batch_size, max_queue_delay_ms)
    try:
        loaded = infer_mod.load_model(load_settings(), ref, int8=int8, options=options)
    except grpc.RpcError as exc:
        _rpc_fail(exc)
    console.print(infer_mod.loaded_table([loaded]))


@models_app.command("unload")
def models_unload(
    ref: str = typer.Argument(..., help="NAME@VERSION_ID"),
    variant: str = typer.Option("all", help="fp32, int8 or all"),
) -> None:
    """Unload a model version from the inference service (after its in-flight requests)."""
    int8 = None if variant == "all" else variant == "int8"
    try:
        unloaded = infer_mod.unload_model(load_settings(), ref, int8=int8)
    except grpc.RpcError as exc:
        _rpc_fail(exc)
    console.print(infer_mod.loaded_table(unloaded))


@models_app.command("loaded")
def models_loaded(name: str = typer.Argument("", help="only this model")) -> None:
    """The models the inference service has loaded."""
    try:
        console.print(infer_mod.loaded_table(infer_mod.list_loaded(load_settings(), name)))
    except grpc.RpcError as exc:
        _rpc_fail(exc)


@app.command()
def predict(
    model: str = typer.Argument(..., help="a loaded model: NAME or NAME@VERSION_ID"),
    texts: list[str] = typer.Argument(..., help="the texts"),
    int8: bool = typer.Option(False, "--int8", help="ask the int8 variant"),
    words: bool = typer.Option(False, "--words", help="each text is space-separated words (pre-tokenized)"),
    top_k: int = typer.Option(1, "--top-k", help="classification: labels shown"),
) -> None:
    """Entities (NER) or labels (classification) for texts, from the inference service."""
    try:
        response = infer_mod.predict(
            load_settings(), model, texts, int8=True if int8 else None, words=words, top_k=top_k
        )
    except grpc.RpcError as exc:
        _rpc_fail(exc)
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


@app.command()
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
    try:
        responses = generate_mod.stream(
            load_settings(), model, decoding, prompt=prompt if raw else "", messages=turns
        )
        generate_mod.print_stream(console, responses)
    except grpc.RpcError as exc:
        _rpc_fail(exc)


@app.command()
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
    try:
        generate_mod.chat_loop(console, load_settings(), model, decoding, system)
    except grpc.RpcError as exc:
        _rpc_fail(exc)


@base_models_app.command("import")
def base_models_import(
    folder: Path = typer.Argument(..., help="a Hugging Face model folder (safetensors weights)"),
    name: str = typer.Option(..., "--name", help="name to import under"),
    source: str = typer.Option("", help="where it came from, for the record"),
) -> None:
    """Stream a local model folder to the training service."""
    try:
        response = train_mod.import_base_model(load_settings(), console, folder, name, source)
    except FoundryError as exc:
        _fail(exc)
    except grpc.RpcError as exc:
        _rpc_fail(exc)
    verb = "imported" if response.created else "already imported"
    console.print(f"{verb}: {response.base_model.name}@{response.base_model.version_id}")
    console.print(train_mod.base_models_table([response.base_model]))


@base_models_app.command("ls")
def base_models_ls(name: str = typer.Argument("", help="only versions of this base model")) -> None:
    """List imported base models."""
    try:
        console.print(train_mod.base_models_table(train_mod.list_base_models(load_settings(), name)))
    except grpc.RpcError as exc:
        _rpc_fail(exc)


def _rpc_fail(exc: grpc.RpcError) -> None:
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    console.print(f"[red]{getattr(code, 'name', code)}[/red]: {details}")
    raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
