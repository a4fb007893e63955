#!/usr/bin/env bash
# Fill the @NAME@ placeholders of an nginx template from the environment.
#
#   SERVER_NAME=cal.example.com HTTPS_LISTEN=443 HTTP_LISTEN=80 \
#   TLS_CERT=/etc/letsencrypt/live/cal.example.com/fullchain.pem \
#   TLS_KEY=/etc/letsencrypt/live/cal.example.com/privkey.pem \
#   WWW_ROOT=/usr/local/share/calplanebot/www \
#   FCGI_SOCKET=/run/calplanebot/fcgi.sock \
#       nginx/render.sh nginx/calplanebot.conf >/etc/nginx/sites-available/calplanebot
#
# Every placeholder in the template must have a value (HTTP_LISTEN and
# HTTPS_REDIRECT_PORT may be empty; an empty HTTP_LISTEN removes the
# redirect server).  Values go into nginx syntax unquoted, so characters that
# would end or open a directive are refused.
set -euo pipefail

prog=render.sh
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 2; }

(($# == 1)) || die "usage: $prog TEMPLATE >OUTPUT"
template=$1
[[ -r $template ]] || die "cannot read $template"

text=$(<"$template")
if [[ -z ${HTTP_LISTEN:-} ]]; then
	text=$(printf '%s\n' "$text" | sed '/^# BEGIN http-redirect/,/^# END http-redirect/d')
fi
for name in $(printf '%s\n' "$text" | grep -o '@[A-Z_]*@' | sort -u | tr -d @); do
	if [[ ! -v $name ]]; then
		[[ $name == HTTPS_REDIRECT_PORT || $name == HTTP_LISTEN ]] ||
			die "$name is not set"
	fi
	value=${!name:-}
	case $value in
	*[\;\{\}\'\"\$\`\\]* | *$'\n'*) die "$name contains a character nginx would misread: $value" ;;
	esac
	[[ -n $value || $name == HTTPS_REDIRECT_PORT || $name == HTTP_LISTEN ]] ||
		die "$name is empty"
	text=${text//@$name@/$value}
done
printf '%s\n' "$text"
