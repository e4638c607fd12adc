"""Test support, in one place: paths, ports, wallets, devnets, fakes and processes.

Plain functions and classes; nothing runs on import.
"""
