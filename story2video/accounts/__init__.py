"""Accounts for people (ACCOUNTS_ENABLED): registration, log-in, access and refresh tokens."""
