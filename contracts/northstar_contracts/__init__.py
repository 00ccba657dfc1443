"""Northstar's published language: what other systems may rely on when they read our topics.

Every public event type is a versioned pydantic model registered in `registry`; the envelope is
in `envelope`; inbound feed records in `hris`; the goal progress rules in `progress`. This
package imports pydantic and the standard library only, never a Northstar service.
"""
