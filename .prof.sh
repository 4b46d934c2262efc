#!/bin/bash
cd ${WT:-/work/wt/routing}; SECRET_KEY=omnidesk-tests-only-key-7f3c9a1e5b2d8c4f6a0e9b3d7c1f5a2e8b4d6c0f OMNIDESK_HTTPS=false DATABASE_URL=postgres://postgres@127.0.0.1:5432/omnidesk_routing REDIS_URL=redis://127.0.0.1:6379/6 BENCH_DATABASE_SUFFIX=routing .venv/bin/python -m bench.routing_profile "$@"
