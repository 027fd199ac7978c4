# Sourced by .ci/run: a throwaway PostgreSQL server on loopback for the shared-study tests.
# Installs the Debian packages when no server is there, starts one on a free port with its data in
# a temporary folder, exports AUTOML_TEST_POSTGRES for the tests and stops it when CI exits.

pg_bin() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    echo "${found:-}"
}

if [ -z "$(pg_bin)" ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql
fi
PG_BIN=$(pg_bin)
PG_HOME=$(mktemp -d /tmp/automl-postgres.XXXXXX)
PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg=()
if [ "$(id -u)" -eq 0 ]; then  # the server refuses to run as root
    chown postgres "$PG_HOME"
    as_pg=(runuser -u postgres --)
fi
"${as_pg[@]}" "$PG_BIN/initdb" -D "$PG_HOME/data" -U automl --auth=trust -E UTF8 >/dev/null
"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$PG_HOME/data" -l "$PG_HOME/log" -w start \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_HOME -c max_connections=200" >/dev/null
trap '"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$PG_HOME/data" -m fast stop >/dev/null; rm -rf "$PG_HOME"' EXIT
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U automl automl_test
export AUTOML_TEST_POSTGRES="postgresql://automl@127.0.0.1:$PG_PORT/automl_test"
echo "PostgreSQL for the tests: $AUTOML_TEST_POSTGRES"
