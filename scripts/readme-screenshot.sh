#!/usr/bin/env bash
# Remake the pictures of docs/reports.md (the README shows one) from a real monthly run on the bundled sample:
# May then June 2024 (so the index page has a month to compare with), then a screenshot of the first screen of
# two pages.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
billing run parameters/2024-05.yaml >/dev/null
billing run parameters/2024-06.yaml >/dev/null
python -m billing_lib.reports.screenshot out/2024-06/reports/01_invoice_verification.html docs/report.png --height 860
python -m billing_lib.reports.screenshot out/2024-06/index.html docs/index.png --height 760
