#!/bin/sh
# make demo: works on a copy of the example repository in .demo/ (ignored by git).
set -eu
root=$(pwd)
demo="$root/.demo"
rm -rf "$demo"
mkdir -p "$demo"
cp -R runner.yaml datamodel.yaml tasks.d schemas "$demo/"
[ -d templates ] && cp -R templates "$demo/"
[ -d mappings ] && cp -R mappings "$demo/"
cd "$demo"

echo "== runner check (every task file, runner.yaml, datamodel.yaml)"
runner check

echo
echo "== next runs of every task"
for file in $(find tasks.d -name '*.yaml' | sort); do
  runner next "$file" --count 3
done

echo
echo "== runner check --format json, summary"
runner check --format json | python3 -c 'import json,sys; r=json.load(sys.stdin); print("valid:", r["valid"], "errors:", r["error_count"], "warnings:", r["warning_count"], "files:", len(r["files"]))'
echo
echo "demo repository: $demo"
