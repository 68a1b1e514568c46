"""The gRPC edge: servicers, protobuf conversion, the status-code table, interceptors and the
server's assembly (its lifecycle is ``authority.process.serve``)."""
