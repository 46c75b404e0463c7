"""Guards: the checks between a matching rule and a change to production.

Each implements `engine.Guard`; `app` builds the chain in order. Their state is
derived from the journal at start-up and kept in memory, so it survives restarts.
"""
