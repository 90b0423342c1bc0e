#!/usr/bin/env bash
# The contract audit (c-tests/CONTRACT.md): every function include/accord.h
# declares has a section there, every section names a declared function,
# every promise quoted there is a sentence of the header as it stands, the
# first promise of each section names its tests, and every test named there
# is defined in c-tests/test_accord.c and registered in its cmocka suite.
# Run by scripts/c-tests.sh (step "contract"); also runs alone:
#
#   bash scripts/check-contract.sh
set -euo pipefail
cd "$(dirname "$0")/.."
HEADER=include/accord.h
CONTRACT=c-tests/CONTRACT.md
SUITE=c-tests/test_accord.c
bad=0
complain() {
    echo "contract: $*"
    bad=$((bad + 1))
}

declared=$(grep -oE '\baccord_[a-z0-9_]+\(' "$HEADER" | tr -d '(' | sort -u)
sections=$(sed -n 's/^## `\(accord_[a-z0-9_]*\)`$/\1/p' "$CONTRACT" | sort)

for fn in $declared; do
    grep -qx "$fn" <<<"$sections" || complain "$fn is declared in $HEADER but has no section in $CONTRACT"
done
for fn in $sections; do
    grep -qx "$fn" <<<"$declared" || complain "$CONTRACT has a section for $fn, which $HEADER does not declare"
done
dups=$(uniq -d <<<"$sections")
[ -z "$dups" ] || complain "sections appear twice: $dups"

# The first row of every section names its tests ("as above" continues a row).
untested=$(awk '
    /^## `accord_/ { fn = $2; first = 1; next }
    /^\| 1 \|/ && first {
        if ($0 !~ /`test_[a-z0-9_]+`/) print fn
        first = 0
    }
' "$CONTRACT")
for fn in $untested; do
    complain "the first promise of $fn names no test"
done

# Every promise is quoted from the header as it stands: a changed sentence
# fails here until its row (and its test) are updated.
text=$(sed -e 's/^ *\/\*\* *//' -e 's/^ *\*\/ *$//' -e 's/^ *\* \{0,1\}//' "$HEADER" | tr '\n' ' ' | tr -s ' ')
while IFS= read -r sentence; do
    grep -qF -- "$sentence" <<<"$text" || complain "not in $HEADER (changed?): $sentence"
done < <(grep -E '^\| [0-9]+ \|' "$CONTRACT" | sed -E 's/^\| [0-9]+ \| (.*) \| [^|]*\|$/\1/' | sed 's/\\|/|/g')

tests=$(grep -oE '`test_[a-z0-9_]+`' "$CONTRACT" | tr -d '`' | sort -u)
for t in $tests; do
    grep -qE "^static void $t\(void \*\*state\)" "$SUITE" || complain "$t is named in $CONTRACT but not defined in $SUITE"
    grep -qE "cmocka_unit_test(_setup)?\($t[,)]" "$SUITE" || complain "$t is named in $CONTRACT but not registered in the suite"
done

nfn=$(wc -w <<<"$declared")
nrows=$(grep -cE '^\| [0-9]+ \|' "$CONTRACT")
ntests=$(wc -w <<<"$tests")
if [ "$bad" -ne 0 ]; then
    echo "contract: $bad problem(s)"
    exit 1
fi
echo "contract: $nfn functions, $nrows promises, $ntests tests named; all defined and registered"
