#!/usr/bin/env bash
# Run the monthly suite for the previous month, for cron (see docs/monthly-run.md, "Running every month automatically").
#
#   30 6 2 * *  /srv/billing-workbooks/scripts/monthly-cron.sh >> /srv/billing-workbooks/monthly-cron.log 2>&1
#
# It uses this project's .venv (created on first use), works in $BILLING_HOME (default: this project: the
# folder holding parameters/, notebooks/ and the data), creates parameters/YYYY-MM.yaml from
# parameters/template.yaml when missing, runs `billing run` on it and prints a summary. Exit code: 0 done,
# 1 a workbook failed, 2 wrong parameters or data (cron mails the output when MAILTO is set).
# Options go to `billing schedule` (--today YYYY-MM-DD, --period YYYY-MM, --summary FILE...);
# $BILLING_TODAY fixes the day taken as today.
set -euo pipefail
project="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$project/scripts/bootstrap.sh"
cd "${BILLING_HOME:-$project}"
if command -v flock >/dev/null 2>&1; then
  # one run at a time: a second start while a run is going on stops with a message
  exec 9>".monthly-cron.lock"
  flock -n 9 || { echo "monthly-cron: another run is still going on in $(pwd); not starting" >&2; exit 1; }
fi
billing schedule "$@"
