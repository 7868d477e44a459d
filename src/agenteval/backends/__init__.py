"""Backends: where answers come from (recorded replay, the Anthropic API), behind one async contract."""
