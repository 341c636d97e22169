"""Notifications: which events notify whom (``events``), the outbox that records them in the
event's own transaction (``outbox``), and their delivery afterwards."""
