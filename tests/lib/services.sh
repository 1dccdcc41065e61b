#!/usr/bin/env bash
# Background services of the test suite (sourced by tests/run.sh): each started in a process
# group of its own, each stopped with a bounded wait and then killed, group and all, so a
# service stuck in its own shutdown fails the suite naming it instead of hanging it.
#
#   start_service NAME LOG COMMAND...   starts COMMAND in the background, output to LOG
#   stop_services                       SIGTERM to every one, up to STOP_WAIT_SECONDS (20)
#                                       for each to exit, then SIGKILL to its group; returns
#                                       1 (after naming them) if any had to be killed
#   tests/lib/services.sh --self-test   checks the above on a service that ignores SIGTERM

service_names=()
service_pids=()

start_service() {
  local name=$1 log=$2
  shift 2
  # setsid: its own process group (and session), so the kill below reaches its children.
  # NODECAP_TEST_IGNORE_TERM names a service to start with SIGTERM ignored (the suite's own
  # test of a hang in shutdown): ignored here while it forks, it is ignored in the child
  # from its first instruction, and stays so across exec.
  if [[ "${NODECAP_TEST_IGNORE_TERM:-}" == "$name" ]]; then
    trap '' TERM
    setsid "$@" >"$log" 2>&1 &
    trap - TERM
  else
    setsid "$@" >"$log" 2>&1 &
  fi
  service_names+=("$name")
  service_pids+=("$!")
}

stop_services() {
  local rc=0 i pid name waited
  local limit=${STOP_WAIT_SECONDS:-20}
  for i in "${!service_pids[@]}"; do
    pid=${service_pids[$i]} name=${service_names[$i]}
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || continue
    waited=0
    while kill -0 "$pid" 2>/dev/null && ((waited < limit * 10)); do
      sleep 0.1
      waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "tests/run.sh: $name (pid $pid) did not stop within ${limit} s of SIGTERM: killed" >&2
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
      rc=1
    fi
    wait "$pid" 2>/dev/null || true
  done
  service_names=()
  service_pids=()
  return "$rc"
}

if [[ "${BASH_SOURCE[0]}" == "$0" && "${1:-}" == "--self-test" ]]; then
  set -u
  log=$(mktemp)
  # A service that ignores SIGTERM, with a child of its own: both must be gone after.
  NODECAP_TEST_IGNORE_TERM=stubborn start_service stubborn /dev/null bash -c 'sleep 300 & while :; do sleep 0.1; done'
  pid=${service_pids[0]}
  started=$SECONDS
  if STOP_WAIT_SECONDS=2 stop_services 2>"$log"; then
    echo "services.sh self-test: stop_services succeeded on a service that ignores SIGTERM" >&2
    exit 1
  fi
  grep -q "stubborn (pid $pid) did not stop within 2 s of SIGTERM: killed" "$log" \
    || { echo "services.sh self-test: the failure did not name the service: $(cat "$log")" >&2; exit 1; }
  ((SECONDS - started <= 5)) || { echo "services.sh self-test: stopping took $((SECONDS - started)) s" >&2; exit 1; }
  for _ in $(seq 1 40); do
    pgrep -g "$pid" >/dev/null 2>&1 || break
    sleep 0.05
  done
  if pgrep -g "$pid" >/dev/null 2>&1; then
    echo "services.sh self-test: the service's group outlived it" >&2
    exit 1
  fi
  # A service that stops on SIGTERM stops cleanly.
  start_service polite /dev/null sleep 300
  stop_services || { echo "services.sh self-test: a polite service was reported" >&2; exit 1; }
  rm -f "$log"
  echo "services.sh self-test: a service ignoring SIGTERM is killed and named within the bound"
fi
