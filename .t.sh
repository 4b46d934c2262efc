#!/bin/bash
cd /work/wt-intake && SECRET_KEY=omnidesk-tests-only-key-7f3c9a1e5b2d8c4f6a0e9b3d7c1f5a2e8b4d6c0f OMNIDESK_HTTPS=false OMNIDESK_TEST_FAST_PASSWORD_HASHER=true DATABASE_URL=postgres://postgres@127.0.0.1:5432/omnidesk_intake REDIS_URL=redis://127.0.0.1:6379/4 .venv/bin/pytest -q -p no:cacheprovider "$@"
