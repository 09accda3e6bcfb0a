"""Detection benchmarks of IBDeepDescription against its peers.

Run ``python -m benchmarks.run --help``; see ``benchmarks/README.md``.
"""
