#!/usr/bin/env bash
# Runs the local 3-node redraft cluster described by conf/cluster/node{1,2,3}.toml
# (clients on 127.0.0.1:7001-7003, Raft peers on 8001-8003).
#
#   scripts/cluster.sh start    start the nodes that are not running, then wait
#                               until one of them is the Raft leader
#   scripts/cluster.sh stop     SIGTERM the nodes, SIGKILL any left after a deadline
#   scripts/cluster.sh status   port, pid, alive/dead and Raft role/term/leader
#
# It runs from the repository root (found from this script's location), so the
# nodes' data dirs are ./data/node1..3 there. Pid files and each node's log
# (stdout and stderr, appended across runs) are in ./data/cluster/.
#
# `start` does not build: it runs target/release/redraft-server, and builds it
# (cargo build --release -p redraft-server) only when it is missing. Set
# REDRAFT_BIN to run another binary. `start` and `stop` are safe to repeat:
# a running node is left alone, a stopped one is skipped.
#
# A pid file is trusted only while its process is alive and is a
# redraft-server started with that node's config, so a stale pid reused by
# another process is never signalled.
#
# Needs redis-cli (for INFO raft), ps and timeout.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

NODES=(1 2 3)
RUN_DIR="data/cluster"
BIN="${REDRAFT_BIN:-target/release/redraft-server}"
# How long `start` waits for a leader, and `stop` for SIGTERM to work.
START_TIMEOUT_S=30
STOP_TIMEOUT_S=10
# Longest a single redis-cli call may take, so a hung node cannot hang us.
CLI_TIMEOUT_S=2

die() {
    echo "cluster.sh: $*" >&2
    exit 1
}

config_of() { echo "conf/cluster/node$1.toml"; }
pid_file_of() { echo "$RUN_DIR/node$1.pid"; }
log_of() { echo "$RUN_DIR/node$1.log"; }

# The client port from the [server] section of node $1's config. The members
# tables have `port` keys too; only the one under [server] counts.
port_of() {
    local port
    port="$(awk '
        /^\[/ { in_server = ($0 == "[server]") }
        in_server && /^port *=/ { sub(/^port *= */, ""); sub(/ *#.*/, ""); print; exit }
    ' "$(config_of "$1")")"
    [[ "$port" =~ ^[0-9]+$ ]] || die "no [server] port in $(config_of "$1")"
    echo "$port"
}

# Prints node $1's pid if its pid file names a live redraft-server running its
# config; prints nothing otherwise.
live_pid_of() {
    local pid_file pid args
    pid_file="$(pid_file_of "$1")"
    [[ -f "$pid_file" ]] || return 0
    pid="$(<"$pid_file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    args="$(ps -p "$pid" -o args= 2>/dev/null || true)"
    if [[ "$args" == *redraft-server*"$(config_of "$1")"* ]]; then
        echo "$pid"
    fi
}

# `INFO raft` of the node on port $1 as key:value lines; empty if it does not
# answer.
raft_info() {
    timeout "$CLI_TIMEOUT_S" redis-cli -h 127.0.0.1 -p "$1" INFO raft 2>/dev/null \
        | tr -d '\r' || true
}

# The value of field $2 in the INFO text $1.
info_field() {
    sed -n "s/^$2://p" <<<"$1" | head -n 1
}

need_tools() {
    local tool
    for tool in redis-cli ps timeout; do
        command -v "$tool" >/dev/null || die "$tool is required but not on PATH"
    done
}

ensure_binary() {
    [[ -x "$BIN" ]] && return 0
    [[ -z "${REDRAFT_BIN:-}" ]] || die "REDRAFT_BIN=$BIN is not executable"
    echo "$BIN is missing; building it (cargo build --release -p redraft-server)"
    cargo build --release -p redraft-server
    [[ -x "$BIN" ]] || die "the build did not produce $BIN"
}

start_node() {
    local node="$1" pid
    pid="$(live_pid_of "$node")"
    if [[ -n "$pid" ]]; then
        echo "node$node already running (pid $pid, port $(port_of "$node"))"
        return 0
    fi
    # Logs are appended across runs; a marker line shows where this one starts.
    echo "=== cluster.sh start $(date -u '+%Y-%m-%dT%H:%M:%SZ') ===" >>"$(log_of "$node")"
    # nohup and setsid exec in place, so $! is the server's own pid; its own
    # session keeps it out of this terminal's signals once we exit.
    nohup setsid "$BIN" --config "$(config_of "$node")" \
        </dev/null >>"$(log_of "$node")" 2>&1 &
    echo "$!" >"$(pid_file_of "$node")"
    echo "node$node started (pid $!, port $(port_of "$node"), log $(log_of "$node"))"
}

# Fails (with the end of its log) if node $1 is not running.
check_alive() {
    if [[ -z "$(live_pid_of "$1")" ]]; then
        echo "cluster.sh: node$1 is not running; end of $(log_of "$1"):" >&2
        tail -n 20 "$(log_of "$1")" >&2 || true
        die "start failed; see scripts/cluster.sh status, then scripts/cluster.sh stop"
    fi
}

# Polls every node's INFO raft until one reports raft_role:leader, failing
# if a node dies or the deadline passes. Prints the leader.
wait_for_leader() {
    local deadline=$((SECONDS + START_TIMEOUT_S)) node info
    while ((SECONDS < deadline)); do
        # Sleeping first also gives a just-started node time to exec, so
        # its pid shows the server's command line before it is checked.
        sleep 0.2
        for node in "${NODES[@]}"; do
            check_alive "$node"
        done
        for node in "${NODES[@]}"; do
            info="$(raft_info "$(port_of "$node")")"
            if [[ "$(info_field "$info" raft_role)" == "leader" ]]; then
                echo "leader: node$node on 127.0.0.1:$(port_of "$node")" \
                    "(term $(info_field "$info" raft_term))"
                return 0
            fi
        done
    done
    die "no leader after ${START_TIMEOUT_S}s; see scripts/cluster.sh status and $RUN_DIR/*.log"
}

cmd_start() {
    need_tools
    ensure_binary
    mkdir -p "$RUN_DIR"
    local node
    for node in "${NODES[@]}"; do
        start_node "$node"
    done
    wait_for_leader
}

cmd_stop() {
    local node pid signalled=() deadline
    for node in "${NODES[@]}"; do
        pid="$(live_pid_of "$node")"
        if [[ -n "$pid" ]]; then
            echo "node$node: SIGTERM to pid $pid"
            kill -TERM "$pid" 2>/dev/null || true
            signalled+=("$node")
        else
            echo "node$node: not running"
        fi
    done
    deadline=$((SECONDS + STOP_TIMEOUT_S))
    for node in ${signalled[@]+"${signalled[@]}"}; do
        while [[ -n "$(live_pid_of "$node")" ]] && ((SECONDS < deadline)); do
            sleep 0.1
        done
        pid="$(live_pid_of "$node")"
        if [[ -n "$pid" ]]; then
            echo "node$node: still running after ${STOP_TIMEOUT_S}s; SIGKILL to pid $pid"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    for node in "${NODES[@]}"; do
        [[ -n "$(live_pid_of "$node")" ]] || rm -f "$(pid_file_of "$node")"
    done
}

cmd_status() {
    need_tools
    local node port pid state info
    printf '%-6s %-6s %-8s %-6s %-10s %-6s %s\n' node port pid state role term leader
    for node in "${NODES[@]}"; do
        port="$(port_of "$node")"
        pid="$(live_pid_of "$node")"
        state="dead"
        info=""
        if [[ -n "$pid" ]]; then
            state="alive"
            info="$(raft_info "$port")"
        fi
        printf '%-6s %-6s %-8s %-6s %-10s %-6s %s\n' "node$node" "$port" "${pid:--}" \
            "$state" "$(info_field "$info" raft_role | grep . || echo -)" \
            "$(info_field "$info" raft_term | grep . || echo -)" \
            "$(info_field "$info" raft_leader_id | grep . || echo -)"
    done
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
