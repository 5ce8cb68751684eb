# Start the servers the tests use, on 127.0.0.1, with throwaway data dirs, and export where
# they are (the convention of tests/it/services.rs). Sourced by `.ci/run`; a developer can
# source it too (`source .ci/services.sh`) to get the same services for `cargo test --release`.
#
# Idempotent: a server already answering on its port (started by an earlier source of this
# file) is reused. Installs what is missing from Debian (PostgreSQL, MariaDB) and PyPI (moto)
# first. Every server runs as a background process of this shell's session; `.ci/run` stops
# them on exit (`dango_services_stop`).
#
# Ports are fixed and unusual so they never meet a developer's own servers:
#   PostgreSQL 54329 (TLS on, self-signed), MariaDB 33069 (TLS on), moto S3 50009.

DANGO_SERVICES_DIR="${DANGO_SERVICES_DIR:-/tmp/dango-services}"
DANGO_PG_PORT=54329
DANGO_MYSQL_PORT=33069
DANGO_S3_PORT=50009

# What this shell started (and so stops): servers found running are reused and left alone.
_SVC_STARTED=""

_svc_log() { echo "services: $*" >&2; }

# A self-signed certificate for 127.0.0.1/localhost, shared by PostgreSQL and MariaDB; tests
# that check TLS verification use it as their CA file (DANGO_TEST_TLS_CA).
_svc_cert() {
    local dir="$DANGO_SERVICES_DIR/tls"
    if [ ! -f "$dir/server.crt" ]; then
        mkdir -p "$dir"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=localhost" \
            -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -keyout "$dir/server.key" -out "$dir/server.crt" >/dev/null 2>&1
    fi
    chmod 0644 "$dir/server.crt"
    chmod 0640 "$dir/server.key"
    export DANGO_TEST_TLS_CA="$dir/server.crt"
}

_svc_apt() {
    # Debian's packages, once per machine.
    local missing=()
    [ -x /usr/lib/postgresql/15/bin/postgres ] || command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
    command -v mariadbd >/dev/null || missing+=(mariadb-server)
    command -v openssl >/dev/null || missing+=(openssl)
    if [ ${#missing[@]} -gt 0 ]; then
        _svc_log "installing ${missing[*]} from Debian"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

_svc_pg_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/postgres" ] && { echo "$d"; return; }
    done
    echo "services: no PostgreSQL server binaries found" >&2
    return 1
}

_svc_postgres() {
    local bin dir="$DANGO_SERVICES_DIR/pg"
    bin="$(_svc_pg_bin)"
    export DANGO_TEST_PG_URL="postgresql://dango:dango@127.0.0.1:$DANGO_PG_PORT/postgres"
    if "$bin/pg_isready" -q -h 127.0.0.1 -p "$DANGO_PG_PORT"; then
        _svc_log "PostgreSQL already up on $DANGO_PG_PORT"
        return
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    cp "$DANGO_SERVICES_DIR/tls/server.crt" "$DANGO_SERVICES_DIR/tls/server.key" "$dir/"
    chown -R postgres: "$dir"
    chmod 0700 "$dir"
    chmod 0600 "$dir/server.key"
    # PostgreSQL refuses to run as root: run it as Debian's `postgres` user.
    runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        -o "-h 127.0.0.1 -p $DANGO_PG_PORT -k $dir -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key -c max_connections=200 -c fsync=off" >/dev/null
    # A password user (tests exercise password auth over TCP; trust still lets postgres in).
    runuser -u postgres -- "$bin/psql" -q -h 127.0.0.1 -p "$DANGO_PG_PORT" -U postgres -d postgres \
        -c "CREATE ROLE dango LOGIN SUPERUSER PASSWORD 'dango'" >/dev/null
    sed -i 's/^\(host.*\)trust$/\1scram-sha-256/' "$dir/data/pg_hba.conf"
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" reload >/dev/null
    _SVC_STARTED="$_SVC_STARTED postgres"
    _svc_log "PostgreSQL up on $DANGO_PG_PORT ($dir)"
}

_svc_mariadb() {
    local dir="$DANGO_SERVICES_DIR/mysql"
    export DANGO_TEST_MYSQL_URL="mysql://dango:dango@127.0.0.1:$DANGO_MYSQL_PORT/mysql"
    if mariadb-admin --protocol=tcp -h 127.0.0.1 -P "$DANGO_MYSQL_PORT" -u dango -pdango ping >/dev/null 2>&1; then
        _svc_log "MariaDB already up on $DANGO_MYSQL_PORT"
        return
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    cp "$DANGO_SERVICES_DIR/tls/server.crt" "$DANGO_SERVICES_DIR/tls/server.key" "$dir/"
    chown -R mysql: "$dir"
    mariadb-install-db --user=mysql --datadir="$dir/data" --auth-root-authentication-method=normal \
        --skip-test-db >"$dir/install.log" 2>&1
    mariadbd --no-defaults --user=mysql --datadir="$dir/data" --bind-address=127.0.0.1 \
        --port="$DANGO_MYSQL_PORT" --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" \
        --ssl-cert="$dir/server.crt" --ssl-key="$dir/server.key" \
        --innodb-flush-log-at-trx-commit=0 --log-error="$dir/server.log" &
    local i
    for i in $(seq 1 60); do
        mariadb-admin --socket="$dir/mysqld.sock" -u root ping >/dev/null 2>&1 && break
        sleep 1
    done
    mariadb --socket="$dir/mysqld.sock" -u root -e \
        "CREATE USER IF NOT EXISTS 'dango'@'%' IDENTIFIED BY 'dango'; GRANT ALL ON *.* TO 'dango'@'%' WITH GRANT OPTION; FLUSH PRIVILEGES;"
    _SVC_STARTED="$_SVC_STARTED mariadb"
    _svc_log "MariaDB up on $DANGO_MYSQL_PORT ($dir)"
}

_svc_moto() {
    local python="$1" dir="$DANGO_SERVICES_DIR/moto"
    export DANGO_TEST_S3_ENDPOINT="http://127.0.0.1:$DANGO_S3_PORT"
    if curl -fsS "$DANGO_TEST_S3_ENDPOINT/moto-api/" >/dev/null 2>&1; then
        _svc_log "moto S3 already up on $DANGO_S3_PORT"
        return
    fi
    mkdir -p "$dir"
    "$(dirname "$python")/moto_server" -H 127.0.0.1 -p "$DANGO_S3_PORT" >"$dir/server.log" 2>&1 &
    echo $! >"$dir/server.pid"
    _SVC_STARTED="$_SVC_STARTED moto"
    local i
    for i in $(seq 1 60); do
        curl -fsS "$DANGO_TEST_S3_ENDPOINT/moto-api/" >/dev/null 2>&1 && break
        sleep 0.5
    done
    _svc_log "moto S3 up on $DANGO_S3_PORT"
}

# Start every service. $1: the venv's python (moto runs from the same venv).
# A published Singer tap from PyPI (tap-jsonl, pure Python, reads local files) in a venv of
# its own, so its singer-sdk pins never meet dlt's; reinstalled when its pins change.
_svc_singer_tap() {
    local venv="${DANGO_SINGER_TAP_VENV:-$HOME/.cache/dango-singer-tap}"
    local reqs
    reqs="$(dirname "${BASH_SOURCE[0]}")/singer-requirements.txt"
    if ! cmp -s "$reqs" "$venv/.dango-requirements.txt"; then
        _svc_log "installing tap-jsonl into $venv"
        [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$reqs"
        cp "$reqs" "$venv/.dango-requirements.txt"
    fi
    export DANGO_TEST_SINGER_TAP="$venv/bin/tap-jsonl"
}

dango_services_start() {
    mkdir -p "$DANGO_SERVICES_DIR"
    _svc_apt
    _svc_cert
    _svc_postgres
    _svc_mariadb
    _svc_moto "$1"
    _svc_singer_tap
}

# Stop the servers this shell started (used by `.ci/run` on exit); reused ones keep running.
dango_services_stop() {
    local bin
    case "$_SVC_STARTED" in *postgres*)
        bin="$(_svc_pg_bin 2>/dev/null)" &&
            runuser -u postgres -- "$bin/pg_ctl" -D "$DANGO_SERVICES_DIR/pg/data" -m fast stop >/dev/null 2>&1 ;;
    esac
    case "$_SVC_STARTED" in *mariadb*)
        kill "$(cat "$DANGO_SERVICES_DIR/mysql/mysqld.pid")" 2>/dev/null ;;
    esac
    case "$_SVC_STARTED" in *moto*)
        kill "$(cat "$DANGO_SERVICES_DIR/moto/server.pid")" 2>/dev/null ;;
    esac
    return 0
}
