"""The relay bridge: delivers unlock tokens to BLE door relays with bleak (next issue).

The relay-side token check it will build on already exists: ``authority.tokens.verify_token``.
"""
