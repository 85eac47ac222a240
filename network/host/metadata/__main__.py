"""``python -m network.host.metadata``: the metadata proxy of this host (``STRATUS_HOST``), until SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from common.logs import setup_logging
from common.metadata_secret import metadata_secret
from common.settings import load_host
from network.host.metadata.forward import Upstream
from network.host.metadata.server import MetadataProxy


def main() -> int:
    settings = load_host()
    setup_logging("stratus-metadata-proxy", settings.log_level)
    url = settings.metadata_url or f"{settings.effective_public_url}/metadata"
    served = settings.state_path / "dataplane" / settings.effective_host / "metadata.json"
    proxy = MetadataProxy(served, Upstream(url, metadata_secret(settings)))

    def stop(_signum: int, _frame: FrameType | None) -> None:
        proxy.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log = logging.getLogger(__name__)
    log.info("metadata proxy of %s: serving the networks in %s from %s", settings.effective_host, served, url)
    proxy.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
