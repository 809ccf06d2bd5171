"""Readies the first page run while the first browser loads Streamlit's front end.

Streamlit runs no app code before a browser connects, so the first page run used to import the app's
modules itself (the store client, the upload readers, Streamlit's emoji and icon tables) and pay, at its
first element, for Streamlit's check whether it runs outside `streamlit run` (`inspect.stack()` over
the ~1,900 modules loaded). `python -m ui` (ui/__main__.py) starts `start_preloading`: a thread that,
once the server serves (importing earlier would slow the server's own start), imports the entry
script's and the chat page's modules and skips that check, so the first page run finds them done.
Importing the pages has no side effects (their modules say so); a failure is logged and left to the
page run, which shows it.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time

logger = logging.getLogger(__name__)

PAGE_MODULES = ("ui.app", "ui.chat")
"""The entry script and the default page, imported as modules: what they import is then loaded."""
STREAMLIT_TABLES = ("streamlit.emojis", "streamlit.material_icon_names")
"""Imported by Streamlit at the first page icon and material icon (a page's title icon, the sidebar's notes)."""
SERVING_TIMEOUT = 120.0
POLL_SECONDS = 0.05


def serving() -> bool:
    """Whether this process's Streamlit server has started serving (its runtime left the initial state)."""
    from streamlit import runtime
    from streamlit.runtime.runtime import RuntimeState

    return runtime.exists() and runtime.get_instance().state != RuntimeState.INITIAL


def skip_direct_run_check() -> bool:
    """Streamlit checks once per process, at the first element drawn, whether the app runs without
    `streamlit run` (to print a warning then), with `inspect.stack()`: 0.2-0.6 s of the first page run
    with the app's modules loaded. This process runs the server, so the check is marked done.
    False when this Streamlit no longer has the flag (the check then costs as before)."""
    from streamlit import delta_generator

    if not hasattr(delta_generator, "_use_warning_has_been_displayed"):
        return False
    delta_generator._use_warning_has_been_displayed = True
    return True


def preload(modules: tuple[str, ...] = PAGE_MODULES + STREAMLIT_TABLES) -> float:
    """Import `modules` (each failure logged, the rest still imported); seconds taken."""
    started = time.perf_counter()
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as error:  # the page run imports it again and shows the problem
            logger.warning("could not preload %s: %s", name, error)
    if not skip_direct_run_check():
        logger.info("this Streamlit has no direct-run check to skip")
    return time.perf_counter() - started


def _when_serving(timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not serving():
        if time.monotonic() > deadline:
            logger.warning("the server did not serve within %.0f s: preloading the pages anyway", timeout)
            break
        time.sleep(POLL_SECONDS)
    logger.info("pages' modules preloaded in %.1f s", preload())


def start_preloading(timeout: float = SERVING_TIMEOUT) -> threading.Thread:
    """Preload the pages' modules in the background as soon as the server serves (ui/__main__.py).

    Streamlit itself is imported here, in the caller's thread (which then starts the server): two threads
    importing the package at once can run it twice (one gets it half-imported and fails, and the package
    is imported anew), which Streamlit refuses ("DeltaGeneratorSingleton instance already exists!")."""
    import streamlit.runtime.runtime  # noqa: F401

    thread = threading.Thread(target=_when_serving, args=(timeout,), name="newsdesk-preload", daemon=True)
    thread.start()
    return thread
