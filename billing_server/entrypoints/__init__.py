"""Ways into the service: the gRPC server and the command line."""
