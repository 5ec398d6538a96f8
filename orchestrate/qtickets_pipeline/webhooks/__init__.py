"""Near-real-time: QTickets webhooks into the views within seconds (`qtickets-pipeline webhooks serve`).

| module | job |
|---|---|
| `receiver.py` | the HTTP endpoint (aiohttp): account, signature, size and shape checks, 200 once spooled |
| `secrets.py` | which account a URL is, its secrets (and the previous one, for rotation), the signature |
| `spool.py` | the durable queue: segment files, fsync before the 200, the loader's cursor |
| `loader.py` | the thread that drains the spool into staging, the marts and the ledger, batch by batch |
| `payloads.py` | a webhook body → the tap's `orders` and `sales` records (baskets, exchanges) |

Scheduled runs stay the reconciliation: whatever a webhook missed (never delivered, given up), the next
`qtickets-pipeline run` reads from the API.
"""
