"""The compute service (Nova's subset). Where each module runs is in its path:

* ``compute/`` (this level): what several processes share — the records (``models``), the state machine
  (``states``, drawn by ``diagram`` into ``docs/compute-states.md``), the task names and arguments (``client``),
  quota counting (``quota``), and what both the API and the scheduler run on the database: the small public
  interface (``service``: liveness, the clock, the compare-and-swap), starting an action and recording it
  (``actions``) and the delete workflow (``delete``, which the API finishes itself when no host holds the server).
* ``compute/control/``: ``stratus-scheduler``, the control side (placement, build, delete, resize, host reports,
  the sweeper). It holds the database.
* ``compute/host/``: ``stratus-compute``, the agent on each host (the hypervisor driver under ``virt/``, the base
  image cache). It holds no database access and talks to the control side only through signed messages.
"""
