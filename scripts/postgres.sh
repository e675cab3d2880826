#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for loopbridge's database test and example, for a
# developer by hand and for CI.
#
#   eval "$(scripts/postgres.sh start)"   # init if needed, start, print the DATABASE_URL
#   scripts/postgres.sh stop [MODE]       # MODE: fast (default), immediate or smart
#   scripts/postgres.sh restart [MODE]    # stop with MODE, then start
#   scripts/postgres.sh status            # exit 0 if running, 3 if not
#   scripts/postgres.sh url               # print the DATABASE_URL
#   scripts/postgres.sh destroy           # stop at once and delete the cluster
#
# Environment:
#   PGPORT       TCP port on 127.0.0.1 (default 54329)
#   PGDATA_DIR   the cluster's directory (default ${TMPDIR:-/tmp}/loopbridge-pg-$PGPORT);
#                it holds data/, server.log and the unix socket
#   PG_BINDIR    where initdb, pg_ctl and psql are (default: found on PATH, else the
#                newest /usr/lib/postgresql/*/bin; as root, Debian's `postgresql` package
#                is installed when neither has them)
#
# `start` and `restart` print only `export DATABASE_URL=...` on stdout; everything else
# goes to stderr. `start` on a running cluster only checks the role and database.
# The server listens on 127.0.0.1 only and runs without fsync: it is for tests.
set -euo pipefail

readonly ROLE=loopbridge
readonly PASSWORD=loopbridge
readonly DATABASE=loopbridge
readonly PORT=${PGPORT:-54329}
# Absolute: the commands run as the cluster's owner run from /.
DIR=$(realpath -m "${PGDATA_DIR:-${TMPDIR:-/tmp}/loopbridge-pg-$PORT}")
readonly DIR
readonly DATA=$DIR/data
readonly MARKER=$DIR/.loopbridge-pg
readonly URL="postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
    exit 2
}

# initdb and pg_ctl refuse to run as root: as root, the cluster belongs to `postgres`.
if [[ $EUID -eq 0 ]]; then
    OWNER=postgres
else
    OWNER=$(id -un)
fi

# Runs a command as the cluster's owner, from / (the caller's directory may be closed
# to that user), with its output on stderr and without the lock's descriptor (a server
# started with it would hold the lock for as long as it runs).
as_owner() {
    if [[ $EUID -ne 0 ]]; then
        (cd / && "$@") >&2 9>&-
    elif command -v runuser >/dev/null; then
        (cd / && runuser -u "$OWNER" -- "$@") >&2 9>&-
    else
        (cd / && su -s /bin/bash "$OWNER" -c "$(printf '%q ' "$@")") >&2 9>&-
    fi
}

now_ms() { date +%s%3N; }

find_bindir() {
    local initdb dir
    if initdb=$(command -v initdb) && command -v pg_ctl >/dev/null; then
        dirname "$(readlink -f "$initdb")"
        return 0
    fi
    # Debian keeps the server programs off PATH, in one directory per major version.
    while read -r dir; do
        if [[ -x $dir/initdb && -x $dir/pg_ctl ]]; then
            printf '%s\n' "$dir"
            return 0
        fi
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -rV)
    return 1
}

install_postgres() {
    if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
        die "no initdb and pg_ctl found: install PostgreSQL's server (Debian: apt-get install postgresql) or set PG_BINDIR"
    fi
    log "initdb and pg_ctl not found: installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
}

# Sets BIN and PSQL; with `install`, installs PostgreSQL if it is missing, else fails.
setup_bindir() {
    if [[ -n ${PG_BINDIR:-} ]]; then
        [[ -x $PG_BINDIR/initdb && -x $PG_BINDIR/pg_ctl ]] || die "PG_BINDIR=$PG_BINDIR has no initdb and pg_ctl"
        BIN=$PG_BINDIR
    elif ! BIN=$(find_bindir); then
        [[ ${1:-} == install ]] || return 1
        install_postgres
        BIN=$(find_bindir) || die "postgresql is installed but initdb and pg_ctl are still not found"
    fi
    PSQL=$BIN/psql
    [[ -x $PSQL ]] || PSQL=$(command -v psql) || die "no psql beside $BIN/initdb nor on PATH"
    id -u "$OWNER" >/dev/null 2>&1 || die "no OS user $OWNER to own the cluster"
}

is_initialized() { [[ -f $DATA/PG_VERSION ]]; }

is_running() { is_initialized && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

# The port the running server was started with (line 4 of postmaster.pid).
running_port() { sed -n 4p "$DATA/postmaster.pid" 2>/dev/null; }

init_cluster() {
    is_initialized && return 0
    if [[ -d $DIR && -n $(ls -A "$DIR") && ! -f $MARKER ]]; then
        die "$DIR is not empty and was not made by this script: set PGDATA_DIR to a new directory"
    fi
    log "creating a cluster in $DIR"
    mkdir -p "$DIR"
    touch "$MARKER"
    chown "$OWNER" "$DIR" "$MARKER"
    chmod 700 "$DIR"
    as_owner test -w "$DIR" ||
        die "user $OWNER cannot write $DIR (is a parent directory closed to it?): set PGDATA_DIR elsewhere"
    if ! as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C --no-sync >"$DIR/initdb.log" 2>&1; then
        cat "$DIR/initdb.log" >&2
        die "initdb failed"
    fi
    # The settings live in loopbridge.conf, written at each start, so that a changed
    # PGPORT applies to an existing cluster.
    echo "include_if_exists = 'loopbridge.conf'" >>"$DATA/postgresql.conf"
}

write_settings() {
    local socket_dir=${DIR//\'/\'\'}
    cat >"$DATA/loopbridge.conf" <<EOF
# Written by scripts/postgres.sh at each start.
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$socket_dir'
fsync = off
full_page_writes = off
EOF
    chown "$OWNER" "$DATA/loopbridge.conf"
}

psql_admin() {
    "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -U postgres -d postgres >&2
}

ensure_role_and_database() {
    psql_admin <<EOF
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', '$ROLE', '$PASSWORD')
    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$DATABASE', '$ROLE')
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DATABASE') \gexec
EOF
}

cmd_start() {
    local started
    started=$(now_ms)
    setup_bindir install
    init_cluster
    if is_running; then
        local port
        port=$(running_port)
        [[ $port == "$PORT" ]] || die "the cluster in $DIR is running on port $port, not $PORT: stop it first"
        log "already running on 127.0.0.1:$PORT"
    else
        write_settings
        log "starting on 127.0.0.1:$PORT (log: $DIR/server.log)"
        if ! as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 start; then
            tail -n 20 "$DIR/server.log" >&2 || true
            die "the server did not start"
        fi
    fi
    ensure_role_and_database
    local took=$(($(now_ms) - started))
    log "ready in $((took / 1000)).$(printf '%03d' $((took % 1000))) s"
    printf 'export DATABASE_URL=%s\n' "$URL"
}

cmd_stop() {
    local mode=${1:-fast}
    case $mode in
        smart | fast | immediate) ;;
        *) die "unknown stop mode '$mode': smart, fast or immediate" ;;
    esac
    if ! setup_bindir || ! is_running; then
        log "not running ($DIR)"
        return 0
    fi
    log "stopping ($mode)"
    as_owner "$BIN/pg_ctl" -D "$DATA" -m "$mode" -w -t 60 stop
}

cmd_status() {
    if setup_bindir && is_running; then
        log "running on 127.0.0.1:$(running_port) ($DIR)"
        return 0
    fi
    log "not running ($DIR)"
    return 3
}

cmd_destroy() {
    [[ -e $DIR ]] || return 0
    [[ -f $MARKER ]] || die "$DIR was not made by this script: not deleting it"
    cmd_stop immediate
    rm -rf "$DIR" "$DIR.lock"
    log "deleted $DIR"
}

main() {
    local command=${1:-}
    [[ $# -gt 0 ]] && shift
    case $command in
        start | url | status | destroy) [[ $# -eq 0 ]] || usage ;;
        stop | restart) [[ $# -le 1 ]] || usage ;;
        *) usage ;;
    esac
    [[ $PORT =~ ^[0-9]+$ ]] || die "PGPORT=$PORT is not a port number"
    case $command in
        start | stop | restart | destroy)
            # One change at a time per cluster: a start racing a stop would see half a state.
            mkdir -p "$(dirname "$DIR")"
            exec 9>"$DIR.lock"
            if command -v flock >/dev/null; then
                flock 9
            fi
            ;;
    esac
    case $command in
        start) cmd_start ;;
        stop) cmd_stop "$@" ;;
        restart)
            cmd_stop "$@"
            cmd_start
            ;;
        status) cmd_status ;;
        url) printf '%s\n' "$URL" ;;
        destroy) cmd_destroy ;;
    esac
}

main "$@"
