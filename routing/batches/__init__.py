"""Provider batches: the Redis record of requests waiting for, or sent in, a provider batch.

- `store`: batch records, claims and outcomes; `lua`: their atomic scripts
"""
