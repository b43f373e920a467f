# Shared by the shell load benchmarks (sourced, not run): a scratch directory removed at exit
# with every process started into PIDS stopped, and a free loopback port.
# After sourcing: WORK (readable by nginx's unprivileged workers), PIDS, free_port.

WORK=$(mktemp -d)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
