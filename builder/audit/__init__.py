"""The auditor: rebuild a published tree and explain every difference."""
