"""Webhooks: a callback (HTTP POST, HMAC-signed) to the caller when an operation ends."""
