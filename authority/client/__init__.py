"""The client library: typed Python clients for the authority's gRPC API."""
