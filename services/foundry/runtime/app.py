"""The entry point every service's `__main__` uses: settings → logging → serve."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from foundry.runtime.logs import configure_logging
from foundry.runtime.server import ServiceDefinition, serve
from foundry.runtime.settings import Settings, load_settings


def run_service(build: Callable[[Settings], ServiceDefinition]) -> None:
    """Read settings once, wire the service, serve until SIGTERM/SIGINT."""
    settings = load_settings()
    definition = build(settings)
    configure_logging(definition.name.value, settings.log_level, settings.log_json)
    asyncio.run(serve(settings, definition))
