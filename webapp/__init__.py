"""Northstar web pages: the alignment tree, goals and KPIs, read only through the gRPC APIs."""
