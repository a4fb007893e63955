/*
 * fixture.js - health documents shaped exactly like GET /api/v1/health
 * (see shared/health.h), with times relative to "now", and the tiny local
 * server the phase-1 test runs the page against.
 */
'use strict';

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');

/* The policy nginx sends with the page. */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; " +
    "img-src 'self' data:; connect-src 'self'";

function iso(ms) {
	return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function runs(now, n) {
	const out = [];
	for (let i = 0; i < n; i++) {
		const id = 100 + i;
		const started = now - (n - i) * 15 * 60000 + 4000;
		let status = 'ok', duration = 700 + (i * 397) % 2300, failed = 0;
		if (id === 110) { status = 'failed'; duration = 30000; failed = 5; }
		if (id === 127) { status = 'failed'; duration = 350; failed = 2; }
		if (id === 120) { status = 'partial'; failed = 1; }
		out.push({
			id, started_at: iso(started), duration_ms: duration, status,
			created: i % 5 === 0 ? 3 : 0, updated: (i * 7) % 6,
			deleted: i % 9 === 0 ? 1 : 0, failed
		});
	}
	return out;
}

function healthy(now) {
	const recent = runs(now, 35);
	recent.push({
		id: 135, started_at: iso(now - 96000), duration_ms: 1234, status: 'ok',
		created: 3, updated: 7, deleted: 1, failed: 0
	});
	return {
		status: 'healthy',
		version: '0.1.0',
		timestamp: iso(now),
		uptime_seconds: 93784,
		plane_api: { ok: true, checked_at: iso(now - 95000), latency_ms: 123, error: null },
		caldav_server: { ok: true, checked_at: iso(now - 95000), latency_ms: 45, error: null },
		last_sync: {
			id: 135, started_at: iso(now - 96000), ended_at: iso(now - 96000 + 1234),
			duration_ms: 1234, status: 'ok',
			counts: { created: 3, updated: 7, deleted: 1, unchanged: 42, skipped: 2, failed: 0 },
			errors: []
		},
		sync_status: 'idle',
		next_sync_at: iso(now + 245000),
		queue_depth: 4,
		dead_letters: {
			count: 2,
			/* Oldest first on purpose: the page shows the newest first. */
			recent: [
				{ id: 7, delivery: 'd-7f3a', event: 'issue.updated', entity_id: 'ISS-12',
				  error: 'CalDAV PUT 412 Precondition Failed', failed_at: iso(now - 7200000) },
				{ id: 9, delivery: 'd-81c0', event: 'issue.created', entity_id: 'ISS-31',
				  error: 'Plane API 404: issue not found', failed_at: iso(now - 1200000) }
			]
		},
		consecutive_failures: 0,
		alerts: [],
		recent_runs: recent
	};
}

function unhealthy(now) {
	const d = healthy(now);
	d.status = 'unhealthy';
	d.caldav_server = {
		ok: false, checked_at: iso(now - 30000), latency_ms: null,
		error: 'connect to 127.0.0.1:5232 failed: Connection refused'
	};
	d.last_sync = {
		id: 136, started_at: iso(now - 31000), ended_at: iso(now - 30000),
		duration_ms: 912, status: 'failed',
		counts: { created: 0, updated: 0, deleted: 0, unchanged: 0, skipped: 0, failed: 6 },
		errors: ['CalDAV server unreachable: Connection refused',
		    'calendar "Website" not written: Connection refused']
	};
	d.recent_runs.push({
		id: 136, started_at: iso(now - 31000), duration_ms: 912, status: 'failed',
		created: 0, updated: 0, deleted: 0, failed: 6
	});
	d.consecutive_failures = 3;
	d.alerts = [{ code: 'SYNC_FAILING', severity: 'critical',
	    message: '3 syncs in a row failed; the last: CalDAV server unreachable' }];
	return d;
}

function degraded(now) {
	const d = healthy(now);
	d.status = 'degraded';
	d.alerts = [{ code: 'DEAD_LETTERS', severity: 'warning',
	    message: '2 webhook events could not be applied' }];
	return d;
}

/* A fresh install: nothing has run, nothing probed. */
function empty(now) {
	return {
		status: 'healthy', version: '0.1.0', timestamp: iso(now), uptime_seconds: 4,
		plane_api: { ok: null, checked_at: null, latency_ms: null, error: null },
		caldav_server: { ok: null, checked_at: null, latency_ms: null, error: null },
		last_sync: null, sync_status: 'idle', next_sync_at: null, queue_depth: 0,
		dead_letters: { count: 0, recent: [] }, consecutive_failures: 0,
		alerts: [], recent_runs: []
	};
}

/* Hostile strings everywhere the API can carry text. */
const XSS = [
	'<img src=x onerror="window.__xss=1">',
	'<script>window.__xss=2</script>',
	'<svg onload="window.__xss=3"></svg>',
	'"><iframe src="javascript:window.__xss=4"></iframe>'
];

function hostile(now) {
	const d = unhealthy(now);
	d.version = XSS[1];
	d.alerts = [{ code: XSS[2], severity: 'critical', message: XSS[0] }];
	d.plane_api.error = XSS[0];
	d.plane_api.ok = false;
	d.caldav_server.error = XSS[3];
	d.last_sync.errors = XSS.slice();
	d.last_sync.status = XSS[0];
	d.sync_status = XSS[2];
	d.dead_letters.recent[1].error = XSS[0];
	d.dead_letters.recent[1].event = XSS[1];
	d.dead_letters.recent[1].entity_id = XSS[3];
	d.dead_letters.recent[1].delivery = XSS[2];
	d.recent_runs[d.recent_runs.length - 1].status = XSS[0];
	return d;
}

const TYPES = {
	'.html': 'text/html; charset=utf-8',
	'.css': 'text/css; charset=utf-8',
	'.js': 'text/javascript; charset=utf-8',
	'.svg': 'image/svg+xml',
	'.png': 'image/png'
};

/*
 * The local server: www/ as static files and a controllable health
 * endpoint.  ctl.mode: 'json' (ctl.doc with ctl.code), 'http502',
 * 'reset' (drop the connection), 'garbage' (200 text/html).
 * ctl.csp false sends no CSP (to prove the page itself never runs data).
 */
function startServer(wwwDir) {
	const ctl = {
		mode: 'json', code: 200, doc: null, csp: true,
		healthHits: 0, requests: [], server: null, port: 0
	};
	const server = http.createServer((req, res) => {
		const url = new URL(req.url, 'http://127.0.0.1');
		ctl.requests.push(req.method + ' ' + url.pathname);
		const headers = {
			'X-Content-Type-Options': 'nosniff',
			'Referrer-Policy': 'no-referrer',
			'Cache-Control': 'no-store'
		};
		if (ctl.csp)
			headers['Content-Security-Policy'] = CSP;
		if (url.pathname === '/api/v1/health') {
			ctl.healthHits++;
			if (req.method !== 'GET') {
				res.writeHead(405, headers);
				res.end();
				return;
			}
			if (ctl.mode === 'reset') {
				req.socket.destroy();
				return;
			}
			if (ctl.mode === 'http502') {
				res.writeHead(502, Object.assign(headers, { 'Content-Type': 'text/html' }));
				res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
				return;
			}
			if (ctl.mode === 'garbage') {
				res.writeHead(200, Object.assign(headers, { 'Content-Type': 'text/html' }));
				res.end('<html>not json</html>');
				return;
			}
			const body = JSON.stringify(typeof ctl.doc === 'function' ? ctl.doc(Date.now()) : ctl.doc);
			res.writeHead(ctl.code, Object.assign(headers, { 'Content-Type': 'application/json' }));
			res.end(body);
			return;
		}
		let rel = decodeURIComponent(url.pathname);
		if (rel === '/')
			rel = '/index.html';
		const file = path.join(wwwDir, path.normalize(rel));
		if (!file.startsWith(wwwDir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
			res.writeHead(404, Object.assign(headers, { 'Content-Type': 'text/plain' }));
			res.end('not found');
			return;
		}
		res.writeHead(200, Object.assign(headers, {
			'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream'
		}));
		res.end(fs.readFileSync(file));
	});
	ctl.server = server;
	return new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			ctl.port = server.address().port;
			resolve(ctl);
		});
	});
}

module.exports = { CSP, iso, healthy, unhealthy, degraded, empty, hostile, XSS, startServer };
