"""`foundry`: the app, assembled from its verbs: the local stack and the demo, the data verbs,
the model verbs and `foundry label`, each a client of its service through `foundry.client`."""

from __future__ import annotations

import sys

import typer

from foundry.cli import auth, data_verbs, label, model_verbs, retention_verbs, stack_verbs

app = typer.Typer(help="SFT Foundry: data → augment → label → train → export → serve.", no_args_is_help=True)
app.command()(stack_verbs.demo)
app.command()(data_verbs.ingest)
app.command()(data_verbs.augment)
app.command()(model_verbs.train)
app.command()(model_verbs.predict)
app.command()(model_verbs.generate)
app.command()(model_verbs.chat)
app.command("gc")(retention_verbs.gc)
data_verbs.datasets_app.command("rm")(retention_verbs.datasets_rm)
data_verbs.datasets_app.command("erase-subject")(retention_verbs.erase_subject)
model_verbs.models_app.command("rm")(retention_verbs.models_rm)
app.add_typer(stack_verbs.stack_app, name="stack")
app.add_typer(data_verbs.datasets_app, name="datasets")
app.add_typer(model_verbs.models_app, name="models")
app.add_typer(model_verbs.base_models_app, name="base-models")
app.add_typer(label.app, name="label")
app.add_typer(auth.auth_app, name="auth")


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
