"""Roles: named permissions granted to users (the built-in one is `admin`)."""
