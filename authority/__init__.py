"""The access authority for digital door keys.

Layout (dependencies point inwards, towards ``domain``; import-linter checks it):

* ``authority.domain``      pure, typed rules (entities, schedules, ``decide_unlock``, the access
                            policy, credentials and permissions, errors) and ``domain.ports``.
* ``authority.usecases``    one module per capability, over the ports.
* ``authority.adapters``    the ports on one engine each: ``redis``, ``clickhouse``, ``crypto``,
                            ``files``.
* ``authority.wrappers``    around ports: the coalescing round trip, the directory replica.
* ``authority.api``         the gRPC edge: one servicer per proto service, the one status-code
                            table, the RPC → action table, the server's assembly.
* ``authority.process``     settings, process roles, the wiring of each role, the lifecycle.
* ``authority.client``      the client library (imports no server side).
* ``authority.cli``         the ``authority`` command, one module per command group.
* ``authority.v1``          code generated from ``protos/`` (do not edit).
"""

__version__ = "0.1.0"
