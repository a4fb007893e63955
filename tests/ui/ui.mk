# tests/ui/ui.mk - the status page (www/) in headless Chromium.
# Included by the top Makefile.
#
#   make test-ui         phase 1: www/ against a local fixture server with
#                        the CSP nginx sends (about 20 s)
#   make test-ui-stack   phase 2: www/ through the real stack, started with
#                        `make run` beside Radicale and the Plane simulator
#                        (about 30 s); UI_BASE=https://HOST:PORT/ tests a
#                        stack that is already running instead
#
# The driver (tests/ui/cdp.js) speaks the DevTools protocol over
# --remote-debugging-pipe with Node's built-ins only: no npm packages, no
# browser download.  Screenshots go to tests/out/ (git-ignored).

DEB_PKGS += chromium nodejs fonts-dejavu-core

UI_NODE ?= node
UI_BASE ?=

.PHONY: test-ui test-ui-stack

test-ui:
	@mkdir -p tests/out
	$(UI_NODE) tests/ui/test_ui.js

test-ui-stack:
	@mkdir -p tests/out
	BUILD='$(BUILD)' UI_NODE='$(UI_NODE)' tests/ui/stack.sh $(UI_BASE)
