#!/bin/sh
# Runs each unit-test binary (under $VALGRIND when set) and sums the results.
pass=0; fail=0
for t in "$@"; do
	out=$(mktemp)
	if ${VALGRIND:-} "$t" >"$out" 2>&1; then st=0; else st=$?; fi
	p=$(grep -c '^\[       OK \]' "$out")
	f=$(grep -c '^\[  FAILED  \]' "$out")
	pass=$((pass + p)); fail=$((fail + f))
	if [ "$st" != 0 ]; then
		cat "$out"
		[ "$f" -gt 0 ] || fail=$((fail + 1))
		echo "unit: $t exited $st"
	else
		echo "unit: $(basename "$t"): $p passed"
	fi
	rm -f "$out"
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
