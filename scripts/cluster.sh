#!/usr/bin/env bash
# The scale-out roles on one machine: Redis (the Celery broker), PostgreSQL (shared state), N workers
# (SERVICE_ROLE=worker) and one API (SERVICE_ROLE=api, its log on this terminal). Ctrl-C stops all it started.
#   scripts/cluster.sh [N_WORKERS]      (default 2)
# Environment: SERVICE_PORT (the API, default 12345); REDIS_PORT (default 6390) and PG_PORT (default 5433) for
# the servers it starts. With CELERY_BROKER_URL or DATABASE_URL already set it uses that server and starts none.
# Everything lives under data/cluster/: output/ (the OUTPUT_DIR all of them share), logs/, redis/, pg/.
# Needs Debian's redis-server and postgresql; run as root it installs them with apt-get when missing.
set -euo pipefail

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cluster_dir="$repo_dir/data/cluster"
log_dir="$cluster_dir/logs"
redis_port="${REDIS_PORT:-6390}"
pg_port="${PG_PORT:-5433}"
pg_data="$cluster_dir/pg"
started_pids=()       # in start order; stopped in reverse
started_names=()
pg_bin=""             # set once this script started PostgreSQL: it stops it too

die() {
    echo "cluster.sh: $*" >&2
    exit 1
}

is_root() { [ "$(id -u)" = 0 ]; }

postgres_bin_dir() {
    local initdb
    initdb="$(compgen -G "/usr/lib/postgresql/*/bin/initdb" | sort -V | tail -n 1 || true)"
    [ -n "$initdb" ] && dirname "$initdb"
}

# Installs the Debian packages named (those that are missing) in one apt-get call, or says how to get them.
ensure_packages() {
    local missing=() package
    for package in "$@"; do
        case "$package" in
            redis-server) command -v redis-server >/dev/null || missing+=(redis-server) ;;
            postgresql) postgres_bin_dir >/dev/null || missing+=(postgresql) ;;
        esac
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if is_root && command -v apt-get >/dev/null; then
        echo "installing Debian's ${missing[*]} for the cluster..."
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        return 0
    fi
    die "${missing[*]} missing: install with 'apt-get install ${missing[*]}' (as root), or set CELERY_BROKER_URL / DATABASE_URL to servers you run"
}

# Runs a command as the owner of the PostgreSQL data: initdb and postgres refuse to run as root.
as_pg_owner() {
    if is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

remember() {
    started_names+=("$1")
    started_pids+=("$2")
}

start_redis() {
    mkdir -p "$cluster_dir/redis"
    # Appendonly with fsync on every write: work queued survives a restart of Redis.
    redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$cluster_dir/redis" \
        --appendonly yes --appendfsync always --save "" --daemonize no >>"$log_dir/redis.log" 2>&1 &
    local pid=$!
    remember redis "$pid"
    local tries=0
    # Ask for the pid: another server already on this port would answer PING as well.
    until redis-cli -h 127.0.0.1 -p "$redis_port" info server 2>/dev/null | grep -q "^process_id:$pid"; do
        kill -0 "$pid" 2>/dev/null || die "Redis did not start on port $redis_port (REDIS_PORT); see $log_dir/redis.log:
$(tail -n 5 "$log_dir/redis.log")"
        tries=$((tries + 1))
        [ "$tries" -lt 300 ] || die "Redis did not answer on port $redis_port within 30 s; see $log_dir/redis.log"
        sleep 0.1
    done
    export CELERY_BROKER_URL="redis://127.0.0.1:$redis_port/0"
    echo "Redis on port $redis_port (data in $cluster_dir/redis)"
}

start_postgres() {
    local bin
    bin="$(postgres_bin_dir)" || die "PostgreSQL is not installed (apt-get install postgresql)"
    mkdir -p "$pg_data"
    touch "$log_dir/postgres.log"
    if is_root; then
        id postgres >/dev/null 2>&1 || die "initdb will not run as root and there is no postgres user; set DATABASE_URL"
        chown postgres "$pg_data" "$log_dir/postgres.log"
        chmod 700 "$pg_data"
        runuser -u postgres -- test -w "$pg_data" \
            || die "the postgres user cannot reach $pg_data (a parent folder is closed to it); set DATABASE_URL instead"
    fi
    if [ ! -f "$pg_data/PG_VERSION" ]; then
        echo "creating a PostgreSQL cluster in $pg_data..."
        as_pg_owner "$bin/initdb" -D "$pg_data" -U story2video --auth=trust -E UTF8 >"$log_dir/postgres-initdb.log" 2>&1 \
            || die "initdb failed; see $log_dir/postgres-initdb.log"
    fi
    if as_pg_owner "$bin/pg_ctl" -D "$pg_data" status >/dev/null 2>&1; then
        echo "stopping the PostgreSQL an earlier run left behind in $pg_data..."
        as_pg_owner "$bin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null
    fi
    # TCP on loopback only, no Unix socket: the socket path would depend on where the checkout lives.
    as_pg_owner "$bin/pg_ctl" -D "$pg_data" -l "$log_dir/postgres.log" -w -t 60 \
        -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" start >/dev/null \
        || die "PostgreSQL did not start on port $pg_port (PG_PORT); see $log_dir/postgres.log:
$(tail -n 5 "$log_dir/postgres.log")"
    pg_bin="$bin"
    local exists
    exists="$("$bin/psql" -h 127.0.0.1 -p "$pg_port" -U story2video -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'story2video'")"
    if [ "$exists" != 1 ]; then
        "$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U story2video story2video
    fi
    export DATABASE_URL="postgresql://story2video@127.0.0.1:$pg_port/story2video"
    echo "PostgreSQL on port $pg_port (data in $pg_data)"
}

# SIGTERM, then SIGKILL after 30 s: a worker finishing a step gets that long; a lease takes over the rest.
stop_process() {
    local name="$1" pid="$2" waited=0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$waited" -ge 300 ]; then
            echo "$name (pid $pid) did not stop within 30 s; killing it"
            kill -KILL "$pid"
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    wait "$pid" 2>/dev/null || true  # its exit status: the signal we sent
}

stop_cluster() {
    trap - EXIT INT TERM
    echo "stopping the cluster..."
    local i
    for ((i = ${#started_pids[@]} - 1; i >= 0; i--)); do
        stop_process "${started_names[i]}" "${started_pids[i]}"
    done
    if [ -n "$pg_bin" ]; then
        as_pg_owner "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null
        pg_bin=""
    fi
    echo "stopped; logs are in $log_dir"
}

main() {
    local workers="${1:-2}"
    [[ "$workers" =~ ^[1-9][0-9]*$ ]] || die "usage: scripts/cluster.sh [N_WORKERS] (a whole number, at least 1)"
    cd "$repo_dir"
    scripts/bootstrap.sh requirements-api.txt

    local needed=()
    [ -n "${CELERY_BROKER_URL:-}" ] || needed+=(redis-server)
    [ -n "${DATABASE_URL:-}" ] || needed+=(postgresql)
    ensure_packages "${needed[@]}"

    mkdir -p "$log_dir" "$cluster_dir/output"
    trap stop_cluster EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    [ -n "${CELERY_BROKER_URL:-}" ] || start_redis
    [ -n "${DATABASE_URL:-}" ] || start_postgres
    export OUTPUT_DIR="$cluster_dir/output"
    export SERVICE_PORT="${SERVICE_PORT:-12345}"

    local i pid
    for ((i = 1; i <= workers; i++)); do
        SERVICE_ROLE=worker WORKER_ID="worker-$i" .venv/bin/python main_dispatcher.py >>"$log_dir/worker-$i.log" 2>&1 &
        pid=$!
        remember "worker-$i" "$pid"
    done
    echo "$workers worker(s) started; their logs: $log_dir/worker-<n>.log"
    echo "open http://127.0.0.1:$SERVICE_PORT/ (Swagger UI at /docs); Ctrl-C stops the cluster"

    # In the background and waited for, so that Ctrl-C or SIGTERM reach the trap at once.
    SERVICE_ROLE=api .venv/bin/python main_dispatcher.py &
    pid=$!
    remember api "$pid"
    local status=0
    wait "$pid" || status=$?
    echo "the API exited with status $status"
    exit "$status"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
