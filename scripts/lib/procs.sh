# Helpers of the scripts that run a small mesh on loopback (link-order, release-pgo): free
# ports, background processes with their logs in $work, and waiting for listeners. The caller
# sets `work` (a folder for logs) before starting anything.

pids=()
# Ports below the ephemeral range and away from the tests' (22000-32000).
next_port=20000

# Kills what was started; keeps $work when the script failed (its logs say why).
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    wait 2> /dev/null || true
    if [ "$1" = 0 ]; then rm -rf "$work"; fi
}

# `ports a b c` sets each named variable to a free port (not `$(...)`: a subshell would not
# remember which ports it gave).
ports() {
    for name in "$@"; do
        while ss -Htln "sport = :$next_port" | grep -q .; do next_port=$((next_port + 1)); done
        printf -v "$name" %s "$next_port"
        next_port=$((next_port + 1))
    done
}

wait_port() {
    for _ in $(seq 600); do
        ss -Htln "sport = :$1" | grep -q . && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1; logs in $work:" >&2
    tail -n 5 "$work"/*.log >&2
    exit 1
}

# start NAME COMMAND...: runs COMMAND in the background, its output in $work/NAME.log.
start() {
    local name=$1
    shift
    RUST_LOG=warn "$@" > "$work/$name.log" 2>&1 &
    pids+=($!)
}

# Stops (SIGTERM) everything started and waits for it to exit.
stop_all() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    wait 2> /dev/null || true
    pids=()
}
