"""Benchmarks run by `make bench` (`python -m bench`): one JSON object per line on stdout, logs on stderr.

Each module measures one path on the real stack (uvicorn, Celery worker, Redis, PostgreSQL) started by
`tests.stack.Stack` against its own database, so it never touches the development or test data.
"""
