"""The `northstar` console command: Northstar for people, through the public gRPC APIs."""
