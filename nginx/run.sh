#!/usr/bin/env bash
# CalPlaneBot's web stack on this machine: nginx over TLS in front of a
# spawn-fcgi pool of calplanebot-fcgi, all state under one run directory.
#
#   nginx/run.sh start     (make run)
#   nginx/run.sh stop      (make stop)
#   nginx/run.sh status
#
# Settings (environment; `make run` passes its variables of the same names):
#   RUN_DIR      run directory: config, pids, socket, logs   (./build/run)
#   HTTPS_PORT   TLS port on LISTEN_ADDR                     (8443)
#   HTTP_PORT    plain-HTTP port redirecting to TLS           (none)
#   LISTEN_ADDR  address to listen on                         (127.0.0.1)
#   POOL_SIZE    responder processes                          (4)
#   BINDIR       where calplanebot-fcgi and -sync are         (./bin)
#   WWW_ROOT     the status page                              (./www)
#   TLS_CERT, TLS_KEY  PEM files; if unset, a self-signed certificate for
#                127.0.0.1/localhost is made once in RUN_DIR/tls with openssl
#   CALPLANEBOT_CONFIG the configuration (default ./calplanebot.env if it
#                exists); the pool gets this script's environment, so
#                settings in the environment work too
#
# As root, nginx's workers run as nobody and the socket belongs to nobody's
# group (mode 0660); the responders run as the invoking user.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}

prog=run.sh
top=$(cd "$(dirname "$0")/.." && pwd)
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }

RUN_DIR=${RUN_DIR:-$top/build/run}
[[ $RUN_DIR == /* ]] || RUN_DIR=$PWD/$RUN_DIR
HTTPS_PORT=${HTTPS_PORT:-8443}
HTTP_PORT=${HTTP_PORT:-}
LISTEN_ADDR=${LISTEN_ADDR:-127.0.0.1}
POOL_SIZE=${POOL_SIZE:-4}
BINDIR=${BINDIR:-$top/bin}
[[ $BINDIR == /* ]] || BINDIR=$top/$BINDIR
WWW_ROOT=${WWW_ROOT:-$top/www}
NGINX_WORKERS=${NGINX_WORKERS:-auto}

conf=$RUN_DIR/conf/nginx.conf
sock=$RUN_DIR/fcgi.sock
poolpid=$RUN_DIR/fcgi.pid
nginxpid=$RUN_DIR/nginx.pid
fcgi=$BINDIR/calplanebot-fcgi

check_settings() {
	local p
	for p in "$HTTPS_PORT" ${HTTP_PORT:+"$HTTP_PORT"}; do
		[[ $p =~ ^[1-9][0-9]{0,4}$ ]] && ((p <= 65535)) || die "bad port: $p"
	done
	[[ $POOL_SIZE =~ ^[1-9][0-9]?$ ]] || die "POOL_SIZE must be 1..99"
	# These go into nginx's configuration unquoted.
	case "$RUN_DIR$WWW_ROOT$LISTEN_ADDR${TLS_CERT:-}${TLS_KEY:-}" in
	*[[:space:]\;\{\}\'\"\$\`\\]*) die "paths must not contain spaces, quotes, ; { } \$ or \\" ;;
	esac
	# A unix socket path holds at most 107 bytes.
	((${#sock} <= 100)) || die "RUN_DIR is too long for a unix socket path: $RUN_DIR"
}

# PID alive, not a zombie, and its command line contains $2.  Builtins
# only: this runs in polling loops.
owned() {
	local pid=$1 want=$2 stat args=()
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	read -r stat 2>/dev/null <"/proc/$pid/stat" || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]] || return 1
	mapfile -d '' args 2>/dev/null <"/proc/$pid/cmdline" || return 1
	((${#args[@]})) || return 1
	[[ " ${args[*]} " == *"$want"* ]]
}

pool_pids() {
	local pid
	[[ -r $poolpid ]] || return 0
	while read -r pid || [[ -n $pid ]]; do
		owned "$pid" "$RUN_DIR/" && printf '%s\n' "$pid"
	done <"$poolpid"
}

nginx_pid() {
	local pid
	[[ -r $nginxpid ]] || return 0
	pid=$(<"$nginxpid")
	owned "$pid" "$conf" && printf '%s\n' "$pid"
}

# Wait until none of the PIDs is alive; false after $1 tenths of a second.
wait_gone() {
	local tenths=$1 pid alive
	shift
	while ((tenths-- > 0)); do
		alive=0
		for pid in "$@"; do owned "$pid" "" && alive=1; done
		((alive)) || return 0
		sleep 0.1
	done
	return 1
}

do_stop() {
	local pid pids
	pid=$(nginx_pid)
	if [[ -n $pid ]]; then
		nginx -q -p "$RUN_DIR" -c "$conf" -e "$RUN_DIR/logs/nginx-error.log" \
			-s quit 2>/dev/null || kill -QUIT "$pid" 2>/dev/null || true
		if ! wait_gone 50 "$pid"; then
			kill -TERM "$pid" 2>/dev/null || true
			wait_gone 20 "$pid" || kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	mapfile -t pids < <(pool_pids)
	if ((${#pids[@]})); then
		# Each responder is its own session (spawn-fcgi calls setsid).
		kill -TERM "${pids[@]}" 2>/dev/null || true
		if ! wait_gone 50 "${pids[@]}"; then
			mapfile -t pids < <(pool_pids)
			((${#pids[@]} == 0)) || kill -KILL "${pids[@]}" 2>/dev/null || true
		fi
	fi
	rm -f -- "$poolpid" "$sock" "$nginxpid"
}

make_cert() {
	local dir=$RUN_DIR/tls
	TLS_CERT=$dir/cert.pem
	TLS_KEY=$dir/key.pem
	[[ -s $TLS_CERT && -s $TLS_KEY ]] && return 0
	command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
	mkdir -p "$dir"
	chmod 0700 "$dir"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 30 -subj "/CN=CalPlaneBot local" \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-keyout "$TLS_KEY" -out "$TLS_CERT" >"$dir/openssl.log" 2>&1 ||
		die "openssl failed: $(tail -n 5 "$dir/openssl.log")"
	chmod 0600 "$TLS_KEY"
}

# As root: can nobody reach the socket and read the status page?  Every
# parent directory must be searchable (a private mktemp dir is not).
nobody_can_reach() {
	command -v setpriv >/dev/null || return 1
	setpriv --reuid=nobody --regid="$nobody_group" --clear-groups -- \
		test -x "$RUN_DIR" -a -r "$WWW_ROOT" -a -x "$WWW_ROOT" 2>/dev/null
}

render() {
	local user_line="# not root: workers run as $(id -un)" http_listen="" redirect=""
	if (($(id -u) == 0)); then
		if nobody_can_reach; then
			user_line="user nobody $nobody_group;"
		else
			echo "$prog: nobody cannot reach $RUN_DIR or $WWW_ROOT (a parent directory is private): nginx workers run as root" >&2
			user_line="user root root;"
		fi
	fi
	if [[ -n $HTTP_PORT ]]; then
		http_listen=$LISTEN_ADDR:$HTTP_PORT
	fi
	((HTTPS_PORT == 443)) || redirect=:$HTTPS_PORT
	SERVER_NAME="$LISTEN_ADDR localhost" HTTPS_LISTEN=$LISTEN_ADDR:$HTTPS_PORT \
		HTTP_LISTEN=$http_listen HTTPS_REDIRECT_PORT=$redirect \
		TLS_CERT=$TLS_CERT TLS_KEY=$TLS_KEY WWW_ROOT=$WWW_ROOT FCGI_SOCKET=$sock \
		"$top/nginx/render.sh" "$top/nginx/calplanebot.conf" >"$RUN_DIR/conf/calplanebot.conf"
	sed -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@USER_LINE@|$user_line|" \
		-e "s|@WORKERS@|$NGINX_WORKERS|" \
		"$top/nginx/run.conf.in" >"$conf"
	# Debian's files, so `include fastcgi_params` means the same as in
	# /etc/nginx; a minimal copy where nginx's own files are missing.
	if [[ -r /etc/nginx/fastcgi_params ]]; then
		cp /etc/nginx/fastcgi_params "$RUN_DIR/conf/fastcgi_params"
	else
		printf 'fastcgi_param %s %s;\n' QUERY_STRING '$query_string' \
			REQUEST_METHOD '$request_method' CONTENT_TYPE '$content_type' \
			CONTENT_LENGTH '$content_length' SCRIPT_NAME '$fastcgi_script_name' \
			REQUEST_URI '$request_uri' DOCUMENT_URI '$document_uri' \
			SERVER_PROTOCOL '$server_protocol' REQUEST_SCHEME '$scheme' \
			HTTPS '$https if_not_empty' REMOTE_ADDR '$remote_addr' \
			>"$RUN_DIR/conf/fastcgi_params"
	fi
	if [[ -r /etc/nginx/mime.types ]]; then
		cp /etc/nginx/mime.types "$RUN_DIR/conf/mime.types"
	else
		printf 'types { text/html html; text/css css; application/javascript js; image/svg+xml svg; image/png png; application/json json; }\n' \
			>"$RUN_DIR/conf/mime.types"
	fi
}

fail_start() {
	printf '%s: %s\n' "$prog" "$*" >&2
	local f
	for f in "$RUN_DIR/logs/nginx-error.log" "$RUN_DIR/logs/fcgi.log"; do
		[[ -s $f ]] && { printf -- '--- %s\n' "$f" >&2; tail -n 15 "$f" >&2; }
	done
	do_stop
	exit 1
}

do_start() {
	local pids i
	check_settings
	[[ -x $fcgi ]] || die "$fcgi not found: build first (make)"
	command -v nginx >/dev/null || die "nginx not found (apt-get install nginx-light)"
	command -v spawn-fcgi >/dev/null || die "spawn-fcgi not found (apt-get install spawn-fcgi)"
	if [[ -n $(nginx_pid) || -n $(pool_pids) ]]; then
		die "already running in $RUN_DIR (stop it first: make stop)"
	fi
	if [[ -z ${CALPLANEBOT_CONFIG:-} && -r $PWD/calplanebot.env ]]; then
		export CALPLANEBOT_CONFIG=$PWD/calplanebot.env
	fi
	mkdir -p "$RUN_DIR/conf" "$RUN_DIR/logs" "$RUN_DIR/tmp"
	# nginx's workers (nobody, as root) must reach the socket inside.
	chmod 0711 "$RUN_DIR"
	nobody_group=$(id -gn nobody 2>/dev/null || echo nogroup)
	if (($(id -u) == 0)); then
		chown nobody:"$nobody_group" "$RUN_DIR/tmp"
	fi

	# The configuration first: spawn-fcgi says "spawned" even for a child
	# that exits at once on a bad setting.
	"$fcgi" --check >"$RUN_DIR/logs/check.out" 2>&1 ||
		{ cat "$RUN_DIR/logs/check.out" >&2; die "the responder refuses this configuration (see above)"; }

	if [[ -z ${TLS_CERT:-} || -z ${TLS_KEY:-} ]]; then
		make_cert
	fi
	render
	nginx -t -q -p "$RUN_DIR" -c "$conf" -e "$RUN_DIR/logs/nginx-error.log" \
		>"$RUN_DIR/logs/nginx-test.out" 2>&1 ||
		{ cat "$RUN_DIR/logs/nginx-test.out" >&2; die "nginx rejects the configuration"; }

	rm -f -- "$sock" "$poolpid"
	local owner=()
	if (($(id -u) == 0)); then
		owner=(-G "$nobody_group")
	fi
	# libcurl pulls in GnuTLS (through librtmp), whose load-time
	# constructor initialises it: about 0.8 MB per responder for a
	# library that is never called (our TLS is OpenSSL's).
	GNUTLS_NO_IMPLICIT_INIT=1 \
	spawn-fcgi -s "$sock" -M 0660 "${owner[@]}" -F "$POOL_SIZE" -P "$poolpid" -- \
		"$fcgi" --log "$RUN_DIR/logs/fcgi.log" --sync-log "$RUN_DIR/logs/sync.log" \
		>"$RUN_DIR/logs/spawn-fcgi.out" 2>&1 ||
		fail_start "spawn-fcgi failed: $(cat "$RUN_DIR/logs/spawn-fcgi.out")"
	sleep 0.2
	mapfile -t pids < <(pool_pids)
	((${#pids[@]} == POOL_SIZE)) ||
		fail_start "only ${#pids[@]} of $POOL_SIZE responders are running"

	nginx -p "$RUN_DIR" -c "$conf" -e "$RUN_DIR/logs/nginx-error.log" \
		>"$RUN_DIR/logs/nginx-start.out" 2>&1 ||
		fail_start "nginx did not start: $(cat "$RUN_DIR/logs/nginx-start.out")"
	for ((i = 0; i < 50; i++)); do
		[[ -n $(nginx_pid) ]] && break
		sleep 0.1
	done
	[[ -n $(nginx_pid) ]] || fail_start "nginx did not write its pid file"

	local base=https://$LISTEN_ADDR:$HTTPS_PORT
	cat <<EOF
CalPlaneBot is running (run directory $RUN_DIR)
  status page   $base/
  health        $base/health   and   $base/api/v1/health
  API           $base/api/v1/status   $base/api/v1/metrics
  webhook URL   $base/webhooks/plane   (configure it in Plane with the secret)
  certificate   $TLS_CERT
  logs          $RUN_DIR/logs/
  pool          ${#pids[@]} responders on $sock
Stop with: make stop$( [[ $RUN_DIR == "$top/build/run" ]] || printf ' RUN_DIR=%s' "$RUN_DIR")
EOF
}

do_status() {
	local n p
	n=$(nginx_pid)
	p=$(pool_pids | wc -l)
	printf 'nginx: %s\npool: %s responder(s)\n' "${n:-not running}" "$p"
	[[ -n $n && $p -gt 0 ]]
}

case ${1:-} in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
*) printf 'usage: %s start|stop|status\n' "$prog" >&2; exit 2 ;;
esac
