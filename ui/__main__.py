"""`python -m ui [streamlit run options]`: the web chat, as `make run` starts it.

The same as `streamlit run ui/app.py [options]`, except that this process's loader (ui/warmup.py)
starts at once, while the server starts: the Python modules are imported, the article store opened
and the models loaded in the background before anyone visits, and once the server serves the pages'
own modules are imported too (ui/preload.py), so the first visitor's page is ready as fast as later
ones. Settings that cannot be read leave the loading to the first page run, which shows the problem.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

APP = Path(__file__).with_name("app.py")
logger = logging.getLogger("newsdesk.ui")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        from assistant.config import get_settings
        from ui.warmup import start_at_launch

        start_at_launch(get_settings())
    except Exception as error:  # e.g. an invalid setting: the page says so
        logger.error("not loading at launch: %s", error)
    from ui.preload import start_preloading

    start_preloading()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
