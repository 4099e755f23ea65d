"""Keeping secrets out of every output: `redact` masks passwords in URLs and DSNs, values of
secret-named keys and every registered secret (the process-wide REDACTOR); `sources` reads
secrets from environment variables and files and registers them.

A leaf room: imports only engine.errors.
"""
