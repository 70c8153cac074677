"""Accounts: sign-up, profile, password and account deletion."""
