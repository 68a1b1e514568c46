"""The gRPC edge: servicers, protobuf conversion, the status-code table and server lifecycle."""
