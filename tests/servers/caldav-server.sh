#!/usr/bin/env bash
# Start and stop real CalDAV servers on loopback for integration tests.
#
#   caldav-server.sh start KIND DIR   KIND: radicale | xandikos | sabredav | davical
#   caldav-server.sh stop DIR
#
# `start` creates DIR, picks a free 127.0.0.1 port, writes the server's
# configuration into DIR, starts the server in the background (its own
# session, logs in DIR/server.log), waits until it answers HTTP, then prints
# shell-sourceable KEY='value' lines to stdout and writes the same lines to
# DIR/env. `stop` stops everything `start` started and never fails.
# See tests/servers/README.md.
set -euo pipefail

readonly PROG=${0##*/}
readonly CALDAV_USER=alice
readonly READY_TIMEOUT_DS=100          # readiness wait, tenths of a second
readonly PY=/usr/bin/python3           # Debian python (pyenv shims may shadow python3)
readonly SABRE_REALM=SabreDAV
readonly DAVICAL_CONF=/etc/davical/127.0.0.1-conf.php
readonly DAVICAL_DB_FILE=/etc/davical/127.0.0.1-calplanebot-db

die() {
    printf '%s: %s\n' "$PROG" "$*" >&2
    exit 1
}

usage() {
    cat >&2 <<EOF
usage: $PROG start radicale|xandikos|sabredav|davical DIR
       $PROG stop DIR
EOF
    exit 2
}

# ---------------------------------------------------------------- helpers --

free_port() {
    "$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Password: fixed prefix with the awkward characters (@ : !) plus a random tail.
make_password() {
    local tail
    tail=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
    printf 'p@ss:w0rd!x%s' "$tail"
}

# Fields of /proc/PID/stat after "pid (comm) " (comm may hold spaces) into
# the array STAT: STAT[0]=state [1]=ppid [2]=pgrp [3]=session ... [19]=starttime.
read_stat() {
    local line
    read -r line 2>/dev/null <"/proc/$1/stat" || return 1
    read -r -a STAT <<<"${line##*) }"
}

# Start time of PID in clock ticks since boot; empty if gone.
proc_starttime() {
    local STAT
    read_stat "$1" || return 0
    printf '%s\n' "${STAT[19]}"
}

# PID exists and is not a zombie.
proc_alive() {
    local STAT
    read_stat "$1" && [[ ${STAT[0]} != Z ]]
}

# PIDs of live processes whose session id is $1. Zombies count as gone: once
# `start` has exited, our servers are reaped by init, sometimes a second late.
session_pids() {
    local sid=$1 d p STAT
    for d in /proc/[0-9]*; do
        p=${d#/proc/}
        read_stat "$p" || continue
        if [[ ${STAT[3]:-} == "$sid" && ${STAT[0]} != Z ]]; then printf '%s\n' "$p"; fi
    done
    return 0
}

tail_log() {
    local f
    for f in "$@"; do
        [[ -s $f ]] || continue
        printf -- '--- last lines of %s ---\n' "$f" >&2
        tail -n 25 "$f" >&2
    done
}

# Run a command as the postgres user when we are root, else as ourselves.
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_bindir() {
    local d
    d=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
    [[ -n $d && -x $d/initdb ]] || die "PostgreSQL server binaries not found (apt-get install postgresql)"
    printf '%s\n' "$d"
}

# (no `php -m | grep -q`: with pipefail, grep exiting early makes php die of SIGPIPE)
php_has_module() {
    local mods
    mods=$(php -m 2>/dev/null) || return 1
    [[ $'\n'$mods$'\n' == *$'\n'$1$'\n'* ]]
}

# Quote a value for KEY='value' lines (values never contain newlines).
shq() {
    printf "'%s'" "${1//\'/\'\\\'\'}"
}

# ------------------------------------------------------------ per-server --

setup_radicale() {
    [[ -x /usr/bin/radicale ]] || die "radicale not installed (apt-get install radicale)"
    command -v htpasswd >/dev/null || die "htpasswd not found (apt-get install apache2-utils)"
    htpasswd -b -m -c "$DIR/users" "$CALDAV_USER" "$PASSWORD" 2>/dev/null
    mkdir -p "$DIR/collections"
    cat >"$DIR/config" <<EOF
[server]
hosts = 127.0.0.1:$PORT

[auth]
type = htpasswd
htpasswd_filename = $DIR/users
htpasswd_encryption = md5
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = $DIR/collections

[web]
type = none

[logging]
level = warning
EOF
    SERVER_CMD=(/usr/bin/radicale -C "$DIR/config")
    BASE_URL="http://127.0.0.1:$PORT/"
    AUTH_TYPE=basic
    PRINCIPAL="/$CALDAV_USER/"
    HOME_PATH="/$CALDAV_USER/"
}

setup_xandikos() {
    [[ -x /usr/bin/xandikos ]] || die "xandikos not installed (apt-get install xandikos)"
    mkdir -p "$DIR/data"
    SERVER_CMD=(/usr/bin/xandikos -d "$DIR/data" -l 127.0.0.1 -p "$PORT" --defaults)
    BASE_URL="http://127.0.0.1:$PORT/"
    AUTH_TYPE=basic                 # Xandikos has no auth: credentials are ignored
    PRINCIPAL=/user/
    HOME_PATH=/user/calendars/
}

setup_sabredav() {
    local autoload=/usr/share/php/Sabre/autoload.php
    local sqldir=/usr/share/doc/php-sabre-dav/examples/sql f ha1
    [[ -r $autoload ]] || die "SabreDAV not found at $autoload (apt-get install php-sabre-dav)"
    command -v php >/dev/null || die "php not found (apt-get install php-cli)"
    php_has_module pdo_sqlite || die "PHP pdo_sqlite missing (apt-get install php-sqlite3)"

    # htdigest file: user:realm:md5(user:realm:password)
    ha1=$(printf '%s:%s:%s' "$CALDAV_USER" "$SABRE_REALM" "$PASSWORD" | md5sum | cut -d' ' -f1)
    printf '%s:%s:%s\n' "$CALDAV_USER" "$SABRE_REALM" "$ha1" >"$DIR/htdigest"

    {
        for f in calendars locks principals; do
            if [[ -r $sqldir/sqlite.$f.sql ]]; then
                cat "$sqldir/sqlite.$f.sql"
            fi
        done
    } >"$DIR/schema.sql"
    grep -q 'CREATE TABLE calendarobjects' "$DIR/schema.sql" || sabre_inline_schema >"$DIR/schema.sql"

    cat >"$DIR/server.php" <<'PHP'
<?php
// Generated by tests/servers/caldav-server.sh: SabreDAV 1.8 CalDAV server,
// PDO/SQLite backends, Digest auth from an htdigest file.
error_reporting(E_ALL & ~E_DEPRECATED & ~E_USER_DEPRECATED & ~E_NOTICE & ~E_STRICT);
ini_set('display_errors', '0');
ini_set('log_errors', '1');
date_default_timezone_set('UTC');

$uri = $_SERVER['REQUEST_URI'];
if (preg_match('{^/\.well-known/caldav/?(\?.*)?$}', $uri)) {
    header('Location: /', true, 301);
    exit;
}

require_once '/usr/share/php/Sabre/autoload.php';

$dir = __DIR__;
$pdo = new PDO('sqlite:' . $dir . '/sabre.sqlite');
$pdo->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
$pdo->exec('PRAGMA busy_timeout = 5000');

$principalBackend = new \Sabre\DAVACL\PrincipalBackend\PDO($pdo);
$calendarBackend = new \Sabre\CalDAV\Backend\PDO($pdo);
$authBackend = new \Sabre\DAV\Auth\Backend\File($dir . '/htdigest');

$tree = array(
    new \Sabre\CalDAV\Principal\Collection($principalBackend),
    new \Sabre\CalDAV\CalendarRootNode($principalBackend, $calendarBackend),
);
$server = new \Sabre\DAV\Server($tree);
$server->setBaseUri('/');
$server->addPlugin(new \Sabre\DAV\Auth\Plugin($authBackend, 'SabreDAV'));
$server->addPlugin(new \Sabre\DAVACL\Plugin());
$server->addPlugin(new \Sabre\CalDAV\Plugin());
$server->exec();
PHP

    # shellcheck disable=SC2016  # PHP code, not shell expansions
    php -r '
        $dir = $argv[1]; $user = $argv[2];
        $pdo = new PDO("sqlite:" . $dir . "/sabre.sqlite");
        $pdo->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
        $pdo->exec(file_get_contents($dir . "/schema.sql"));
        $pdo->exec("DELETE FROM principals");
        $st = $pdo->prepare("INSERT INTO principals (uri, email, displayname) VALUES (?, ?, ?)");
        $st->execute(array("principals/$user", "$user@example.org", ucfirst($user)));
        $st->execute(array("principals/$user/calendar-proxy-read", null, null));
        $st->execute(array("principals/$user/calendar-proxy-write", null, null));
    ' "$DIR" "$CALDAV_USER"

    SERVER_CMD=(php -d "error_reporting=E_ALL & ~E_DEPRECATED & ~E_USER_DEPRECATED" -d display_errors=0 -d log_errors=1 -S "127.0.0.1:$PORT" -t "$DIR" "$DIR/server.php")
    BASE_URL="http://127.0.0.1:$PORT/"
    AUTH_TYPE=digest
    PRINCIPAL="/principals/$CALDAV_USER/"
    HOME_PATH="/calendars/$CALDAV_USER/"
}

# Used only if the Debian example schemas are missing.
sabre_inline_schema() {
    cat <<'SQL'
CREATE TABLE calendarobjects (id integer primary key asc, calendardata blob, uri text,
  calendarid integer, lastmodified integer, etag text, size integer, componenttype text,
  firstoccurence integer, lastoccurence integer);
CREATE TABLE calendars (id integer primary key asc, principaluri text, displayname text,
  uri text, ctag integer, description text, calendarorder integer, calendarcolor text,
  timezone text, components text, transparent bool);
CREATE TABLE locks (id integer primary key asc, owner text, timeout integer, created integer,
  token text, scope integer, depth integer, uri text);
CREATE TABLE principals (id INTEGER PRIMARY KEY ASC, uri TEXT, email TEXT, displayname TEXT,
  vcardurl TEXT, UNIQUE(uri));
CREATE TABLE groupmembers (id INTEGER PRIMARY KEY ASC, principal_id INTEGER, member_id INTEGER,
  UNIQUE(principal_id, member_id));
SQL
}

# The shared per-host config. Identical for every instance: the instance's
# database is passed in the php -S environment. Written only if it differs.
write_davical_conf() {
    local tmp
    davical_conf_text >"$DIR/davical-conf.php"
    if cmp -s "$DIR/davical-conf.php" "$DAVICAL_CONF"; then
        return 0
    fi
    [[ -w /etc/davical ]] ||
        die "cannot write $DAVICAL_CONF (run once as root, or copy $DIR/davical-conf.php there)"
    tmp=$(mktemp /etc/davical/.127.0.0.1-conf.XXXXXX)
    cat "$DIR/davical-conf.php" >"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$DAVICAL_CONF"
}

davical_conf_text() {
    cat <<'PHP'
<?php
// Written by CalPlaneBot tests/servers/caldav-server.sh (loopback test servers).
// DAViCal looks its config up by server name, so every loopback instance shares
// this file. The database location comes from the php -S process environment
// (CALPLANEBOT_DAVICAL_PG = libpq keywords: host=SOCKETDIR port=N), falling back
// to the file written by the most recent `start davical`.
$calplanebot_pg = getenv('CALPLANEBOT_DAVICAL_PG');
if ($calplanebot_pg === false || $calplanebot_pg === '') {
    $calplanebot_pg = trim((string) @file_get_contents('/etc/davical/127.0.0.1-calplanebot-db'));
}
$c->pg_connect[] = 'dbname=davical user=davical_app ' . $calplanebot_pg;
$c->system_name = 'DAViCal CalDAV Server';
$c->admin_email = 'calendar-admin@example.org';
$calplanebot_auth = getenv('CALPLANEBOT_DAVICAL_AUTH');
if ($calplanebot_auth === 'digest') {
    $c->http_auth_mode = 'Digest';
}
PHP
}

setup_davical() {
    local bindir pgport sock pgdata sql
    [[ -d /usr/share/davical/htdocs ]] || die "DAViCal not installed (apt-get install davical)"
    [[ -x /usr/share/davical/dba/create-database.sh ]] || die "DAViCal create-database.sh missing"
    command -v php >/dev/null || die "php not found (apt-get install php-cli)"
    php_has_module pgsql || die "PHP pgsql missing (apt-get install php-pgsql)"
    case ${CALDAV_DAVICAL_AUTH:=basic} in
    basic | digest) ;;
    *) die "CALDAV_DAVICAL_AUTH must be basic or digest, not '$CALDAV_DAVICAL_AUTH'" ;;
    esac
    bindir=$(pg_bindir)
    write_davical_conf
    if [[ $EUID -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "no 'postgres' user"
        # The cluster runs as postgres: let it traverse (not list) DIR.
        chmod 0711 "$DIR"
        runuser -u postgres -- test -x "$DIR" ||
            die "user postgres cannot reach $DIR (a parent directory is not traversable)"
    fi

    pgport=$(free_port)
    pgdata=$DIR/pgdata
    sock=$DIR/pgsock
    # Unix socket paths are limited to 107 bytes.
    if ((${#sock} + 20 > 107)); then
        sock=$(mktemp -d /tmp/caldav-pg.XXXXXX)
        printf '%s\n' "$sock" >"$DIR/pgsock.path"
    else
        mkdir -p "$sock"
    fi
    mkdir -p "$pgdata"
    if [[ $EUID -eq 0 ]]; then
        chown postgres: "$pgdata" "$sock"
    fi
    chmod 0700 "$pgdata"
    printf '%s\n' "$pgdata" >"$DIR/pgdata.path"
    printf '%s\n' "$bindir" >"$DIR/pgbin.path"

    (cd / && as_pg "$bindir/initdb" -D "$pgdata" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
        --no-sync) >"$DIR/initdb.log" 2>&1 ||
        { tail_log "$DIR/initdb.log"; die "initdb failed"; }
    (cd / && as_pg "$bindir/pg_ctl" -D "$pgdata" -l "$DIR/pgdata/postgres.log" -w -t 30 start \
        -o "-c listen_addresses='' -k $sock -p $pgport -c fsync=off -c synchronous_commit=off -c full_page_writes=off") \
        >"$DIR/pg_ctl.log" 2>&1 ||
        { tail_log "$DIR/pg_ctl.log" "$DIR/pgdata/postgres.log"; die "PostgreSQL did not start"; }

    (cd / && as_pg env PGHOST="$sock" PGPORT="$pgport" PGUSER=postgres PSQLOPTS= \
        DBAOPTS="--dbhost $sock --dbport $pgport" \
        /usr/share/davical/dba/create-database.sh davical "admin-$(make_password | tr -cd 'a-z0-9')") \
        >"$DIR/create-database.log" 2>&1 ||
        { tail_log "$DIR/create-database.log"; die "DAViCal create-database.sh failed"; }
    grep -q 'password for the .admin. user' "$DIR/create-database.log" ||
        { tail_log "$DIR/create-database.log"; die "DAViCal create-database.sh did not finish"; }

    # One user: password stored as '**plain' (enables Basic and Digest).
    sql=$(
        cat <<'SQL'
INSERT INTO usr (active, email_ok, updated, username, password, fullname, email)
  VALUES (TRUE, current_date, current_date, :'u', '**' || :'p', :'u', :'u' || '@example.org');
INSERT INTO principal (type_id, user_no, displayname, default_privileges)
  SELECT 1, user_no, fullname, 0::BIT(24) FROM usr WHERE username = :'u';
SQL
    )
    printf '%s\n' "$sql" | (cd / && as_pg env PGHOST="$sock" PGPORT="$pgport" \
        "$bindir/psql" -qX -v ON_ERROR_STOP=1 -v u="$CALDAV_USER" -v p="$PASSWORD" \
        -U davical_dba davical) >>"$DIR/create-database.log" 2>&1 ||
        { tail_log "$DIR/create-database.log"; die "could not create DAViCal user"; }

    # Router: /.well-known/caldav -> /caldav.php/ (Apache does this with a
    # rewrite rule); everything else is served by php -S as usual.
    cat >"$DIR/router.php" <<'PHP'
<?php
if (preg_match('{^/\.well-known/ca(l|rd)dav/?(\?.*)?$}', $_SERVER['REQUEST_URI'])) {
    header('Location: /caldav.php/', true, 301);
    exit;
}
return false;
PHP

    DAVICAL_PG="host=$sock port=$pgport"
    # Fallback for a php -S started by hand without the environment variable.
    if [[ -w /etc/davical ]]; then
        printf '%s\n' "$DAVICAL_PG" >"$DAVICAL_DB_FILE.tmp.$$"
        chmod 0644 "$DAVICAL_DB_FILE.tmp.$$"
        mv -f "$DAVICAL_DB_FILE.tmp.$$" "$DAVICAL_DB_FILE"
    fi

    SERVER_CMD=(env CALPLANEBOT_DAVICAL_PG="$DAVICAL_PG"
        CALPLANEBOT_DAVICAL_AUTH="$CALDAV_DAVICAL_AUTH"
        php -d "error_reporting=E_ALL & ~E_DEPRECATED & ~E_USER_DEPRECATED" -d display_errors=0 -d log_errors=1 -S "127.0.0.1:$PORT" -t /usr/share/davical/htdocs "$DIR/router.php")
    BASE_URL="http://127.0.0.1:$PORT/caldav.php/"
    AUTH_TYPE=$CALDAV_DAVICAL_AUTH
    PRINCIPAL="/caldav.php/$CALDAV_USER/"
    HOME_PATH="/caldav.php/$CALDAV_USER/"
}

# ------------------------------------------------------------------ start --

wait_ready() {
    local i code
    for ((i = 0; i < READY_TIMEOUT_DS; i++)); do
        if ! proc_alive "$SERVER_PID"; then
            tail_log "$DIR/server.log"
            die "$KIND exited during startup (log: $DIR/server.log)"
        fi
        code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$BASE_URL" 2>/dev/null) || true
        case $code in
        200 | 207 | 301 | 302 | 401) return 0 ;;
        esac
        sleep 0.1
    done
    tail_log "$DIR/server.log"
    die "$KIND not ready on $BASE_URL after $((READY_TIMEOUT_DS / 10)) s (last HTTP code: ${code:-none})"
}

# The server answers: check that our user can log in (and, for DAViCal, that
# PHP reaches the database) with one authenticated PROPFIND.
verify_login() {
    local code auth=--basic
    [[ $AUTH_TYPE == digest ]] && auth=--digest
    code=$(curl -s -o "$DIR/login-check.xml" --max-time 5 "$auth" -u "$CALDAV_USER:$PASSWORD" \
        -X PROPFIND -H 'Depth: 0' -H 'Content-Type: application/xml' \
        --data-binary '<propfind xmlns="DAV:"><prop><current-user-principal/></prop></propfind>' \
        -w '%{http_code}' "$BASE_URL" 2>/dev/null) || true
    if [[ $code != 207 ]]; then
        tail_log "$DIR/server.log" "$DIR/login-check.xml"
        die "$KIND is up but an authenticated PROPFIND on $BASE_URL answered ${code:-nothing} (want 207)"
    fi
    rm -f -- "$DIR/login-check.xml"
}

do_start() {
    KIND=$1
    DIR=$2
    case $KIND in
    radicale | xandikos | sabredav | davical) ;;
    *) usage ;;
    esac
    command -v curl >/dev/null || die "curl not found"
    [[ -x $PY ]] || die "$PY not found"
    [[ $DIR == /* ]] || DIR=$PWD/$DIR
    case $DIR in
    *[[:space:]\'\"\\\$\`%]*) die "DIR must not contain whitespace, quotes, \\, \$, \` or %: $DIR" ;;
    esac
    umask 077
    [[ ! -e $DIR/server.pid ]] || die "$DIR already holds a server (stop it first)"
    if [[ -e $DIR ]]; then
        [[ -d $DIR && -z $(ls -A "$DIR") ]] || die "$DIR exists and is not an empty directory"
    fi
    mkdir -p "$DIR"

    # From here on, a failure stops whatever was already started.
    trap 'start_failed' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    PORT=$(free_port)
    PASSWORD=$(make_password)
    "setup_$KIND"

    # Own session so that `stop` can find php -S workers and other children.
    setsid "${SERVER_CMD[@]}" </dev/null >"$DIR/server.log" 2>&1 &
    SERVER_PID=$!
    printf '%s\n' "$SERVER_PID" >"$DIR/server.pid"
    proc_starttime "$SERVER_PID" >"$DIR/server.starttime"
    wait_ready
    verify_login

    {
        printf 'CALDAV_URL=%s\n' "$(shq "$BASE_URL")"
        printf 'CALDAV_USERNAME=%s\n' "$(shq "$CALDAV_USER")"
        printf 'CALDAV_PASSWORD=%s\n' "$(shq "$PASSWORD")"
        printf 'CALDAV_AUTH_TYPE=%s\n' "$(shq "$AUTH_TYPE")"
        printf 'CALDAV_PRINCIPAL=%s\n' "$(shq "$PRINCIPAL")"
        printf 'CALDAV_HOME=%s\n' "$(shq "$HOME_PATH")"
        printf 'CALDAV_KIND=%s\n' "$(shq "$KIND")"
        printf 'CALDAV_PORT=%s\n' "$(shq "$PORT")"
        printf 'SERVER_PID=%s\n' "$(shq "$SERVER_PID")"
    } >"$DIR/env.tmp"
    mv -f "$DIR/env.tmp" "$DIR/env"
    trap - EXIT INT TERM
    cat "$DIR/env"
}

start_failed() {
    local rc=$?
    if ((rc != 0)); then
        do_stop "$DIR" >/dev/null 2>&1 || true
    fi
    exit "$rc"
}

# ------------------------------------------------------------------- stop --

stop_session() {
    local pid=$1 want_start=$2 now_start i pids
    now_start=$(proc_starttime "$pid")
    if [[ -n $now_start && $now_start != "$want_start" ]]; then
        # PID reused by an unrelated process: our session is long gone
        # (the kernel does not reuse a PID still in use as a session id).
        return 0
    fi
    for ((i = 0; i < 50; i++)); do
        mapfile -t pids < <(session_pids "$pid")
        ((${#pids[@]} > 0)) || return 0
        if ((i == 0)); then
            kill -TERM "${pids[@]}" 2>/dev/null || true
        elif ((i == 30)); then
            kill -KILL "${pids[@]}" 2>/dev/null || true
        fi
        sleep 0.1
    done
    return 0
}

stop_postgres() {
    local pgdata bindir pmpid
    [[ -r $DIR/pgdata.path ]] || return 0
    pgdata=$(<"$DIR/pgdata.path")
    [[ -f $pgdata/postmaster.pid ]] || return 0
    bindir=$(cat "$DIR/pgbin.path" 2>/dev/null || true)
    if [[ -n $bindir && -x $bindir/pg_ctl ]]; then
        (cd / && as_pg "$bindir/pg_ctl" -D "$pgdata" -m immediate -w -t 10 stop) >/dev/null 2>&1 || true
    fi
    # Fallback: the postmaster PID, if it still is our postmaster.
    if [[ -f $pgdata/postmaster.pid ]]; then
        pmpid=$(head -n 1 "$pgdata/postmaster.pid" 2>/dev/null || true)
        if [[ $pmpid =~ ^[0-9]+$ ]] &&
            tr '\0' ' ' <"/proc/$pmpid/cmdline" 2>/dev/null | grep -F -- "$pgdata" >/dev/null; then
            kill -QUIT "$pmpid" 2>/dev/null || true
        fi
    fi
    return 0
}

do_stop() {
    DIR=$1
    [[ $DIR == /* ]] || DIR=$PWD/$DIR
    [[ -d $DIR ]] || return 0
    local pid start sock
    if [[ -r $DIR/server.pid ]]; then
        pid=$(<"$DIR/server.pid")
        start=$(cat "$DIR/server.starttime" 2>/dev/null || true)
        if [[ $pid =~ ^[0-9]+$ ]]; then
            stop_session "$pid" "$start"
        fi
    fi
    stop_postgres
    if [[ -r $DIR/pgsock.path ]]; then
        sock=$(<"$DIR/pgsock.path")
        [[ $sock == /tmp/caldav-pg.* ]] && rm -rf -- "$sock"
        rm -f -- "$DIR/pgsock.path"
    fi
    rm -f -- "$DIR/server.pid" "$DIR/server.starttime"
    return 0
}

# ------------------------------------------------------------------- main --

main() {
    (($# >= 1)) || usage
    case $1 in
    start)
        (($# == 3)) || usage
        do_start "$2" "$3"
        ;;
    stop)
        (($# == 2)) || usage
        do_stop "$2" || true
        ;;
    *) usage ;;
    esac
}

main "$@"
