#!/usr/bin/env bash
# scripts/fuzz.sh [regexp] — run every fuzz target of the module, one at a time.
#
# Finds each `func FuzzXxx` in the test files of the module's packages (go list ./...,
# so the separate integration module is left out) and runs it alone for FUZZTIME
# (default 5s: the short form CI runs; make soak runs them for a minute each):
#
#	go test -run='^$' -fuzz='^FuzzXxx$' -fuzztime="$FUZZTIME" ./pkg
#
# Each run first checks the target's seed corpus (its f.Add inputs and
# pkg/testdata/fuzz/FuzzXxx/), then fuzzes. With a regexp, only the targets whose
# "import/path.FuzzXxx" matches it run. The first failure stops the script: go test
# has written the failing input to pkg/testdata/fuzz/FuzzXxx/<id>, and the message
# says how to rerun it; commit it with the fix, as a regression input. A summary
# (targets run, inputs tried, time) ends a successful run. A run that ends only in
# Go's "context deadline exceeded" race (golang/go#75804: no failing input) is run
# again, and counted as flaky if it happens twice.
#
# Fuzzing runs GOMAXPROCS workers; FUZZ_PARALLEL sets another number. No Kafka or
# PostgreSQL is needed: -run='^$' runs no ordinary test.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$KBUS_ROOT"

FUZZTIME="${FUZZTIME:-5s}"
match="${1:-}"
parallel=()
[ -n "${FUZZ_PARALLEL:-}" ] && parallel=(-parallel="$FUZZ_PARALLEL")

# targets: "import/path dir FuzzName" lines, in package order.
targets=()
while read -r pkg dir files; do
	[ -n "$files" ] || continue
	for f in $files; do
		for name in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*\*testing\.F).*/\1/p' "$dir/$f"); do
			if [ -z "$match" ] || [[ "$pkg.$name" =~ $match ]]; then
				targets+=("$pkg $dir $name")
			fi
		done
	done
done < <(go list -f '{{.ImportPath}} {{.Dir}} {{join .TestGoFiles " "}} {{join .XTestGoFiles " "}}' ./...)
[ "${#targets[@]}" -gt 0 ] || die "no fuzz target${match:+ matches $match}"

# run_target runs one target into $out. It returns 0 when the target passed, 2 when
# it failed only by Go's own coordinator race (golang/go#75804, unfixed in Go 1.26):
# under CPU contention a duration -fuzztime can end in a bare "context deadline
# exceeded" with no failing input written. Anything else is 1, a failure.
run_target() {
	local rel=$1 name=$2 corpus="$1/testdata/fuzz/$2" before after
	before="$(ls "$corpus" 2>/dev/null || true)"
	# -timeout=0: a long FUZZTIME must not hit go test's 10m default; the fuzzing
	# engine itself reports an input that hangs a worker.
	if go test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" -timeout=0 "${parallel[@]}" "$rel" >"$out" 2>&1; then
		return 0
	fi
	after="$(ls "$corpus" 2>/dev/null || true)"
	if [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' "$out" &&
		[ "$(grep -c -e '^--- FAIL' -e 'panic:' -e 'Failing input' "$out")" = 1 ]; then
		return 2
	fi
	return 1
}

log "fuzz: ${#targets[@]} targets, $FUZZTIME each"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
start=$SECONDS
total_execs=0
n=0
flaky=0
for t in "${targets[@]}"; do
	read -r pkg dir name <<<"$t"
	rel="./${dir#"$KBUS_ROOT"/}"
	t0=$SECONDS
	rc=0
	run_target "$rel" "$name" || rc=$?
	if [ "$rc" = 2 ]; then
		log "fuzz: $pkg $name ended in Go's fuzztime race (golang/go#75804, no failing input); running it again"
		rc=0
		run_target "$rel" "$name" || rc=$?
		if [ "$rc" = 2 ]; then
			log "fuzz: $pkg $name hit the race twice; counted as flaky, not failed"
			flaky=$((flaky + 1))
			rc=0
		fi
	fi
	if [ "$rc" != 0 ]; then
		cat "$out" >&2
		log ""
		log "fuzz: FAIL $pkg $name after $((SECONDS - t0))s ($n of ${#targets[@]} targets passed before it)."
		if input="$(grep -o 'testdata/fuzz/[^ ]*' "$out" | head -1)" && [ -n "$input" ]; then
			log "fuzz: the failing input is $rel/$input; rerun it with:"
			log "	go test -run='^${name}/${input##*/}\$' $rel"
		fi
		exit 1
	fi
	execs="$(grep -o 'execs: [0-9]*' "$out" | tail -1 | tr -dc 0-9 || true)"
	total_execs=$((total_execs + ${execs:-0}))
	n=$((n + 1))
	printf 'ok   %-40s %-36s %4ds %10s inputs\n' "$pkg" "$name" "$((SECONDS - t0))" "${execs:-?}"
done
printf 'fuzz: %d targets passed%s, %d inputs tried, in %dm%02ds (FUZZTIME=%s)\n' \
	"$n" "$([ "$flaky" = 0 ] || echo " ($flaky only after Go's fuzztime race twice)")" \
	"$total_execs" "$(((SECONDS - start) / 60))" "$(((SECONDS - start) % 60))" "$FUZZTIME"
