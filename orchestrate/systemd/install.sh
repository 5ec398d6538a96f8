#!/usr/bin/env bash
# Installs the scheduled run for one checkout. Every path follows from QTICKETS_HOME.
#
#   QTICKETS_HOME   the checkout (default: the one this script is in)
#   QTICKETS_USER   the service user the runs execute as (default: qtickets)
#   SYSTEMD_DIR     where units go (default: /etc/systemd/system)
#
#   orchestrate/systemd/install.sh systemd   # write the units, enable and start the timer (as root)
#   orchestrate/systemd/install.sh cron      # print the crontab line instead
#   orchestrate/systemd/install.sh render D  # only write the filled-in units into directory D
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
home="${QTICKETS_HOME:-$(cd "$here/../.." && pwd)}"
user="${QTICKETS_USER:-qtickets}"
render() { sed -e "s|@QTICKETS_HOME@|$home|g" -e "s|@QTICKETS_USER@|$user|g" "$1"; }

case "${1:-}" in
  render)
    out="${2:?usage: install.sh render DIR}"
    mkdir -p "$out"
    for unit in qtickets-pipeline.service qtickets-pipeline.timer; do render "$here/$unit" > "$out/$unit"; done
    ;;
  systemd)
    dest="${SYSTEMD_DIR:-/etc/systemd/system}"
    "$0" render "$dest"
    systemctl daemon-reload
    systemctl enable --now qtickets-pipeline.timer
    systemctl list-timers qtickets-pipeline.timer --no-pager
    ;;
  cron)
    render "$here/crontab" | grep -v '^#'
    ;;
  *)
    echo "usage: $0 systemd | cron | render DIR   (QTICKETS_HOME=$home QTICKETS_USER=$user)" >&2
    exit 2
    ;;
esac
