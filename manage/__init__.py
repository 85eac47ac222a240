"""``stratus-manage``: the operator's command (database migrations, bootstrap, keys, the process manager behind
``make up``/``make down``, retiring hosts). Runs on the control machine; it may import every service package, and
nothing imports it except the tests and benchmarks."""
