# The web stack on this machine (included by the top Makefile).
#
#   make run     build, then start nginx (TLS on 127.0.0.1:$(HTTPS_PORT)) and
#                the spawn-fcgi pool from ./calplanebot.env (or
#                $$CALPLANEBOT_CONFIG); prints the URLs
#   make stop    stop both
#
#   make run HTTPS_PORT=9443 HTTP_PORT=9080 POOL_SIZE=2 RUN_DIR=/tmp/cpb
#   make run TLS_CERT=/path/fullchain.pem TLS_KEY=/path/privkey.pem
#
# Everything lives under $(RUN_DIR): configuration, pids, socket, logs.
# nginx-light has what the site needs (ssl, limit_req, fastcgi, map).

RUN_DIR    ?= $(CURDIR)/build/run
HTTPS_PORT ?= 8443
HTTP_PORT  ?=
POOL_SIZE  ?= 4

RUN_ENV = RUN_DIR='$(RUN_DIR)' HTTPS_PORT='$(HTTPS_PORT)' \
	HTTP_PORT='$(HTTP_PORT)' POOL_SIZE='$(POOL_SIZE)' \
	BINDIR='$(abspath $(BINDIR))' \
	$(if $(TLS_CERT),TLS_CERT='$(TLS_CERT)') $(if $(TLS_KEY),TLS_KEY='$(TLS_KEY)')

.PHONY: run stop

run: all
	$(RUN_ENV) nginx/run.sh start

stop:
	$(RUN_ENV) nginx/run.sh stop

# test_stack drives the responder: build it before the integration tests.
integration: $(FCGI_BIN)
