"""The small interfaces the use cases need from the outside world.

One module per concern; each use case asks for the narrowest port. Adapters in
``authority.adapters`` implement them; ``authority.testing`` ships in-memory fakes and one
contract suite runs against both.
"""
