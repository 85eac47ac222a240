"""The compute service (Nova's subset). Where each module runs is in its path:

* ``compute/`` (this level): what several processes share — the records (``models``), the state machine
  (``states``), the task names and arguments (``client``), quota counting (``quota``) and the small public
  in-process interface the API may call (``service``).
* ``compute/control/``: ``stratus-scheduler``, the control side (placement, build, delete, resize, host reports,
  the sweeper). It holds the database.
* ``compute/host/``: ``stratus-compute``, the agent on each host (the hypervisor driver under ``virt/``, the base
  image cache). It holds no database access and talks to the control side only through signed messages.
"""
