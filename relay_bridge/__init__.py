"""The relay bridge: delivers unlock tokens to BLE door relays with bleak (next issue).

The token format and the relay protocol it speaks are the wire package ``doorkey_wire``
(``doorkey_wire.cwt.verify_token`` is the relay-side token check).
"""
