#!/usr/bin/env bash
# The figures of BENCHMARKS.md: every identityd-bench run behind the table, each writing its JSON
# report (stdout) and table (stderr) into $OUT. Needs a release build; Redis baselines need
# redis-server and redis-benchmark on PATH (apt-get install -y redis-server), else they are skipped.
#   cargo build --release --bins && scripts/bench-figures.sh [OUT_DIR]
# Runs about 4 minutes (the memory mode at 1M users is most of it). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/bench-figures}
mkdir -p "$OUT"
B=target/release/identityd-bench
run() { # name, args...
  local name=$1; shift
  echo "== $name: identityd-bench $*" >&2
  "$B" "$1" --json "${@:2}" >"$OUT/$name.json" 2>"$OUT/$name.txt" || { cat "$OUT/$name.txt" >&2; return 1; }
  grep -v '^identityd-bench: setup' "$OUT/$name.txt" >&2
}
DEFAULT_ARGON2=(--argon2-m-kib 19456 --argon2-t 2 --argon2-p 1)

# Reads: latency at 1x1, throughput at 4x256 (ping phases interleaved), 50 clients vs Redis.
run get_1x1    run --spawn -w get -c 1 -k 1   -d 2 --warmup 0.5 --rounds 3
run get_4x256  run --spawn -w get -c 4 -k 256 -d 2 --warmup 0.5 --rounds 3 --redis off
run get_50x1   run --spawn -w get -c 50 -k 1  -d 3 --warmup 1

# Durable writes (fsync always) at 1, 16 and 64 concurrent writers, vs Redis HSET appendfsync always.
run update_1   run --spawn -w update -c 1  -k 1 -d 3 --warmup 1 --no-ping -- --fsync always
run update_16  run --spawn -w update -c 16 -k 1 -d 3 --warmup 1 --no-ping -- --fsync always
run update_64  run --spawn -w update -c 64 -k 1 -d 3 --warmup 1 --no-ping --redis-clients 50 -- --fsync always

# get p99 idle and during a login storm that keeps the hashing pool saturated (default argon2).
# The gets are paced (2000/s): a closed loop would take all CPU and leave none to hash with.
GETS=(-w get -c 4 -k 4 --rate 2000 -d 5 --warmup 1 --users 200 --no-ping --redis off)
run storm_idle run --spawn "${GETS[@]}" -- "${DEFAULT_ARGON2[@]}"
run storm      run --spawn "${GETS[@]}" --bg-workload login --bg-connections 2 --bg-inflight 64 \
                   -- "${DEFAULT_ARGON2[@]}"

# Other workloads (BENCHMARKS.md, "Other workloads").
run list_1k    run --spawn -w list -c 4 -k 16 -d 3 --warmup 1 --users 1000 --redis off
run list_100k  run --spawn -w list -c 4 -k 16 -d 3 --warmup 1 --users 100000 --redis off --no-ping
run create_16  run --spawn -w create -c 16 -k 1 -d 3 --warmup 1 --no-ping --redis off -- --fsync always
run mix        run --spawn -w mix --mix get=90,update=10 -c 4 -k 64 -d 3 --warmup 1 --redis off -- --fsync always
run login      run --spawn -w login -c 2 -k 32 -d 4 --warmup 1 --users 100 --no-ping --redis off -- "${DEFAULT_ARGON2[@]}"

# RSS per user, snapshot size, restart time (page cache warm and dropped) at 100k and 1M users.
DROP=(); [ "$(id -u)" = 0 ] && DROP=(--drop-caches)
run memory     memory --users 100000,1000000 --wal-tail 100000 "${DROP[@]}"
