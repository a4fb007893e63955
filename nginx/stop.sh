#!/usr/bin/env bash
# Stop what nginx/run.sh started (same RUN_DIR): nginx, then the pool.
exec "$(dirname "$0")/run.sh" stop
