#!/bin/sh
# make demo: works on a copy of the example repository in .demo/ (ignored by git), so it is
# repeatable and leaves the working tree clean.
set -eu
root=$(pwd)
demo="$root/.demo"
rm -rf "$demo"
mkdir -p "$demo"
cp -R runner.yaml datamodel.yaml tasks.d mappings schemas examples "$demo/"
[ -d templates ] && cp -R templates "$demo/"
cd "$demo"

step() { printf '\n== %s\n' "$*"; }

step "runner check: every task file, runner.yaml, datamodel.yaml and mapping profile"
runner check

step "runner next: when each task fires"
for file in $(find tasks.d -name '*.yaml' | sort); do
  runner next "$file" --count 3
done

step "runner store seed: 1,000 objects for datamodel.yaml, some with real JPEG metadata"
runner store seed --objects 1000

step "runner store search: an example request, as two users with different rights"
runner store search examples/requests/embargoed-press-photos.yaml --as editor
runner store search examples/requests/embargoed-press-photos.yaml --as guest

step "runner run: each example task once (a dry run first for the delete task)"
runner run cleanup/empty-trash-candidates --dry-run
for task in review/tag-new-imports metadata/sync-from-files reports/weekly-embargo cleanup/empty-trash-candidates; do
  runner run "$task" --yes
done

step "runner logs: the runs so far, and the events of the delete run"
runner logs
delete_run=$(runner logs cleanup/empty-trash-candidates --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["runs"][-1]["run"])')
runner logs --run "$delete_run"

step "runner undo: put back what the delete run trashed"
runner undo "$delete_run" --yes

step "email summaries: runner.yaml has no smtp, so each mail is an .eml file in the outbox"
python3 - "$demo/.runner/outbox" <<'PY'
import email, email.policy, pathlib, sys

mails = []
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.eml")):
    mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    attached = [part.get_filename() for part in mail.iter_attachments()]
    extra = f"  (attached: {', '.join(attached)})" if attached else ""
    print(f"{path.name}  {mail['Subject']}{extra}")
    mails.append(mail)
search = next(m for m in mails if "reports/weekly-embargo" in m["Subject"])
print("\nThe search task's summary, its plain-text part:\n")
print(search.get_body(("plain",)).get_content())
PY

step "runner daemon: 25 seconds that pick up an edited copy of a task and run it"
runner daemon --for 25s 2> "$demo/daemon.log" &
daemon=$!
sleep 5
mkdir -p tasks.d/demo
sed -e 's/^description: .*/description: Embargoed press photos, once, as soon as the daemon sees this copy/' \
    -e '/^schedule:/,/^  timezone:/c\
schedule:\
  at: now' tasks.d/reports/weekly-embargo.yaml > tasks.d/demo/embargo-now.yaml
runner check tasks.d/demo/embargo-now.yaml
wait "$daemon"
echo "the daemon's own log (one JSON object per line):"
python3 -c 'import json,sys
for line in open(sys.argv[1]):
    e = json.loads(line); print(" ", e["ts"], e["event"], "-", e["msg"][:110])' "$demo/daemon.log"
runner status || true  # exit 1 here: no daemon is alive any more (a health check)
runner logs demo/embargo-now

step "where things are"
echo "demo repository: $demo"
echo "store:           $demo/.runner/store.db (assets in $demo/.runner/assets)"
echo "run logs:        $demo/.runner/logs/<task id>/<run id>.jsonl"
echo "search hits:     $(ls "$demo"/.runner/logs/reports/weekly-embargo/*.csv | head -1)"
echo "daemon log:      $demo/daemon.log"
echo "email summaries: $demo/.runner/outbox/*.eml (open one in a mail client; 'runner notify test' sends a sample)"
