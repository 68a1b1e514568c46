"""The access authority for digital door keys.

Layout (dependencies point inwards, towards ``domain``):

* ``authority.domain``   pure, typed rules: entities, schedules, ``decide_unlock``, errors, ports.
* ``authority.adapters.crypto``   CWT/COSE_Sign1 unlock tokens with Ed25519 (cbor2 + PyNaCl),
keyring.
* ``authority.adapters.redis``    Redis adapters: grant store, directory replica, coalescing,
                         embedded server.
* ``authority.usecases``      use cases (unlock, directory and grant commands, caller
authentication).
* ``authority.api``      the gRPC edge: one servicer per proto service, the one status-code
                         table, the server's assembly.
* ``authority.process``  settings, process roles, the wiring of each role, the lifecycle.
* ``authority.client``   the client library (imports no server side).
* ``authority.v1``       code generated from ``protos/`` (do not edit).
"""

__version__ = "0.1.0"
