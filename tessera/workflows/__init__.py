"""What Tessera does, as plain functions over an open :class:`Instance`.

The API and the CLI are thin layers over these: validate input, call one
workflow, shape its answer. Each workflow writes its change and the audit
entry that records it in one transaction.
"""
