"""The service shell of deepkernel: everything between HTTP and the numerical core.

- ``settings``: configuration from the environment, validated at start-up;
- ``app``: the FastAPI factory and its lifespan (cache, worker pool, compute service);
- ``compute``: content-addressed cache lookup, single flight, dispatch to the pool;
- ``pool`` / ``worker``: worker processes (timeouts, crash recovery, bounded admission);
- ``cache`` / ``codec``: byte-bounded LRU in front of optional Redis, binary values;
- ``middleware``, ``health``, ``metrics``, ``logs``, ``docs``: operations;
- ``cli``: the ``deepkernel`` console script (``serve``, ``openapi``).
"""
