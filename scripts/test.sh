#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Install, build twice (debug with ASan+UBSan, release), and run every test
# suite on both builds: unit (cmocka), fuzz (corpus replay) and integration.
# Ends with "N passed, N failed" and exits non-zero on any failure.
# Benchmarks are not run here: `meson test -C build/release --benchmark`.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
passed=0
failed=0
for flavour in debug release; do
  if ! scripts/build.sh "$flavour"; then
    echo "FAIL: build $flavour"
    failed=$((failed + 1))
    continue
  fi
  meson test -C "build/$flavour" --no-rebuild --print-errorlogs \
    --num-processes 2 --suite unit --suite fuzz --suite integration
  log=build/$flavour/meson-logs/testlog.json
  if [ -f "$log" ]; then
    read -r ok bad < <(/usr/bin/python3 - "$log" <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"):
        ok += 1
    elif r != "SKIP":
        bad += 1
print(ok, bad)
PY
)
    passed=$((passed + ok))
    failed=$((failed + bad))
  else
    echo "FAIL: no test log for $flavour"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
