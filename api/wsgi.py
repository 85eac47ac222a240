"""The WSGI entry point: ``gunicorn api.wsgi:application``."""

from api.app import create_app, settle_garbage_collector
from common.logs import setup_logging
from common.settings import load

_settings = load()
setup_logging("stratus-api", _settings.log_level)
application = create_app(_settings)
settle_garbage_collector()
