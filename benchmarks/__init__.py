"""karman's performance harness: one module per stage (flow, fields, train, duffing), shared
helpers in `common`, and the entry point `run.py` (`python benchmarks/run.py [name…]`)."""
