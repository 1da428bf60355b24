"""NodeLoom's tests, one subpackage per room; what they share is in tests/support."""
