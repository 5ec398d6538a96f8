#!/usr/bin/env bash
# Installs the scheduled run for one checkout. Every path follows from QTICKETS_HOME.
#
#   QTICKETS_HOME   the checkout (default: the one this script is in)
#   QTICKETS_USER   the service user the runs execute as (default: qtickets)
#   SYSTEMD_DIR     where units go (default: /etc/systemd/system)
#
#   orchestrate/systemd/install.sh systemd   # check, write the units, enable and start the timer (as root)
#   orchestrate/systemd/install.sh cron      # check, print the crontab line and install its logrotate rule
#   orchestrate/systemd/install.sh render D  # only write the filled-in units into directory D (a preview)
#   orchestrate/systemd/install.sh render-cron / render-logrotate   # only print the cron line / logrotate rule
#   orchestrate/systemd/install.sh webhooks  # check, write and start the webhook receiver's unit (as root)
#   orchestrate/systemd/install.sh check     # only the checks
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
home="${QTICKETS_HOME:-$(cd "$here/../.." && pwd)}"
user="${QTICKETS_USER:-qtickets}"
render() { sed -e "s|@QTICKETS_HOME@|$home|g" -e "s|@QTICKETS_USER@|$user|g" "$1"; }
fail() { echo "install.sh: $*" >&2; exit 1; }

# What a scheduled run needs; each failure is one line naming what to fix.
check() {
  [ -f "$home/meltano.yml" ] || fail "QTICKETS_HOME=$home holds no meltano.yml: set QTICKETS_HOME to the checkout"
  [ -x "$home/.venv/bin/qtickets-pipeline" ] || fail "$home/.venv has no qtickets-pipeline: run \`make install\` there first"
  id -u "$user" >/dev/null 2>&1 || fail "QTICKETS_USER=$user does not exist: create it (useradd --system $user) or set QTICKETS_USER"
  [ -f "$home/.env" ] || fail "$home/.env is missing: cp .env.example .env and fill it in (docs/production.md)"
  if command -v runuser >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    runuser -u "$user" -- test -w "$home" || fail "$user cannot write to $home (the runs write data/ and .meltano/ there): chown -R $user $home"
  fi
}

case "${1:-}" in
  check)
    check && echo "install.sh: $home is ready for user $user"
    ;;
  render)
    out="${2:?usage: install.sh render DIR}"
    mkdir -p "$out"
    for unit in qtickets-pipeline.service qtickets-pipeline.timer qtickets-webhooks.service; do
      render "$here/$unit" > "$out/$unit"
    done
    ;;
  systemd)
    check
    dest="${SYSTEMD_DIR:-/etc/systemd/system}"
    "$0" render "$dest"
    systemctl daemon-reload
    systemctl enable --now qtickets-pipeline.timer
    systemctl list-timers qtickets-pipeline.timer --no-pager
    ;;
  webhooks)
    check
    grep -q '^QTICKETS_WEBHOOK_SECRET=.' "$home/.env" || fail "$home/.env sets no QTICKETS_WEBHOOK_SECRET: the receiver cannot check signatures without it"
    dest="${SYSTEMD_DIR:-/etc/systemd/system}"
    render "$here/qtickets-webhooks.service" > "$dest/qtickets-webhooks.service"
    systemctl daemon-reload
    systemctl enable --now qtickets-webhooks.service
    systemctl status qtickets-webhooks.service --no-pager | head -5
    ;;
  cron)
    check
    if [ -d /etc/logrotate.d ] && [ -w /etc/logrotate.d ]; then
      render "$here/logrotate" > /etc/logrotate.d/qtickets-pipeline
      echo "# logrotate rule written: /etc/logrotate.d/qtickets-pipeline" >&2
    else
      echo "# as root, rotate the cron log: $0 render-logrotate > /etc/logrotate.d/qtickets-pipeline" >&2
    fi
    "$0" render-cron
    ;;
  render-cron)
    render "$here/crontab" | grep -v '^#'
    ;;
  render-logrotate)
    render "$here/logrotate"
    ;;
  *)
    echo "usage: $0 systemd | webhooks | cron | check | render DIR | render-cron | render-logrotate   (QTICKETS_HOME=$home QTICKETS_USER=$user)" >&2
    exit 2
    ;;
esac
