"""Shared machinery of the web benches (bench/page.py, bench/outage.py and others).

`shop`: a throwaway seeded database, a private redis-server, gunicorn serving the demo shop on a
free loopback port, logged-in customers' session cookies and a model trained on their orders.
`load`: a bounded closed-loop load generator that measures per-request latency and requests/s.
`cpu`: the servers' CPU time from /proc. `django_settings`, `log_fields`: the servers' settings
(RECOMMENDATIONS overrides, the app's log lines as JSON).
It is a package rather than a `bench/*.py` module so that `make bench` does not run it as a bench.
"""
