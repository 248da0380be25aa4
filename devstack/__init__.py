"""The embedded development stack: what `make dev` runs, and what the tests and the benchmark
start their parts from. Not part of the product (the wheel does not carry it).

- `stack`: `python -m devstack`, the supervisor of `make dev` (PostgreSQL, the Temporal dev
  server, the SMTP sink, the worker and the HTTP API, state in `.dev/`);
- `devserver`: the flags the Temporal dev server runs with, the same everywhere;
- `mailsink`: the local SMTP sink (`python -m devstack.mailsink`).
"""
