"""The WSGI entry point: ``gunicorn api.wsgi:application``."""

import gc

from api.app import create_app
from common.logs import setup_logging
from common.settings import load

_settings = load()
setup_logging("stratus-api", _settings.log_level)
application = create_app(_settings)
# What start-up made (modules, the app, caches) lives as long as the process: kept out of the collector's full
# passes, which otherwise walk its ~120,000 objects during a request (~100 ms on a 5,000-port listing).
gc.freeze()
