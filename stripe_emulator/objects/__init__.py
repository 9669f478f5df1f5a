"""Builders for Stripe object shapes (API version 2026-10-28.endive).

Each builder returns the public JSON of one object type with the field
names and nesting Stripe publishes; fields the emulator does not model are
present with Stripe's neutral values (null, [], {}).
"""
