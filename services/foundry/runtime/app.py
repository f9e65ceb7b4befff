"""The entry point every service's `__main__` uses: settings → logging → serve."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from foundry.runtime.errors import FoundryError
from foundry.runtime.logs import configure_logging
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.safety import StartupRefused, check_safe_defaults
from foundry.runtime.server import Hook, ServiceDefinition, serve
from foundry.runtime.settings import Settings
from foundry.runtime.tls import TlsSettingsError, check_tls
from foundry.runtime.tokens import TokensFileError

log = logging.getLogger("foundry.app")

STARTUP_RETRY_MAX_S = 10.0

S = TypeVar("S", bound=Settings)


def run_service(settings_class: type[S], build: Callable[[S], ServiceDefinition]) -> None:
    """Read the service's settings once, check its safe defaults (`runtime.safety`: exit 2 with one
    line when refused), wire the service, serve until SIGTERM/SIGINT."""
    settings = settings_class()
    try:
        check_tls(settings)
        warning = check_safe_defaults(settings)  # before any work
        definition = build(settings)
        configure_logging(definition.name.value, settings.log_level, settings.log_json)
        if warning:
            log.warning(warning)
        asyncio.run(serve(settings, definition))
    except TlsSettingsError as exc:
        raise SystemExit(f"refusing to start: {exc}") from None  # one line on stderr, exit status 1
    except (StartupRefused, TokensFileError) as exc:
        print(f"foundry: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def start_object_store(settings: Settings, store: ObjectStore | None = None) -> Hook:
    """Start-up work: the object store answers and the bucket exists.

    Until it does, the service stays NOT_SERVING and keeps trying (with a capped backoff), so an
    orchestrator routes no traffic to it and a late object store does not crash-loop it.
    """
    the_store = store or ObjectStore.from_settings(settings)

    async def startup() -> None:
        delay = 0.5
        while True:
            try:
                await asyncio.to_thread(the_store.ensure_bucket)
                return
            except FoundryError as exc:
                log.warning(
                    "object store not ready; retrying", extra={"error": str(exc), "retry_in_s": delay}
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, STARTUP_RETRY_MAX_S)

    return startup
