#!/usr/bin/env node
/*
 * test_ui.js - the status page (www/) end to end in Debian's headless
 * Chromium, driven over the DevTools protocol (tests/ui/cdp.js, Node
 * built-ins only).
 *
 *   node tests/ui/test_ui.js                 phase 1: a local fixture server
 *   node tests/ui/test_ui.js --base URL      phase 2: a running stack
 *        [--sync CMD --sim URL]              ... a hostile Plane error
 *        [--sync CMD --stop-caldav CMD]      ... and the unhealthy case
 *
 * Phase 1 serves www/ and a controllable /api/v1/health from a Node server
 * on 127.0.0.1 with the CSP nginx sends, and checks that the page shows
 * what the endpoint returns, turns unhealthy, renders hostile strings as
 * text, marks stale and unreachable data, pauses while hidden, is keyboard
 * usable, readable in light and dark, fits 375 px and 1280 px, and that no
 * request leaves 127.0.0.1.  Screenshots go to tests/out/.
 *
 * Ends with "N passed, M failed"; exits 1 on any failure.  Chromium and the
 * server are stopped on every exit path.
 */
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const https = require('node:https');
const http = require('node:http');
const { execFileSync } = require('node:child_process');

const { launch, sleep, CHROMIUM } = require('./cdp');
const fx = require('./fixture');
const { SNAPSHOT, expectations, matches } = require('./expect');

const ROOT = path.resolve(__dirname, '..', '..');
const WWW = path.join(ROOT, 'www');
const OUT = path.join(ROOT, 'tests', 'out');
const TOTAL_TIMEOUT_MS = Number(process.env.CPB_UI_TIMEOUT_MS || 240000);

const tally = { passed: 0, failed: 0 };
const cleanups = [];
let tmpDir = null;

function check(label, ok, detail) {
	if (ok) {
		tally.passed++;
		console.log('ok   ' + label);
	} else {
		tally.failed++;
		console.log('FAIL ' + label + (detail ? ': ' + detail : ''));
	}
	return ok;
}

function show(v) {
	if (v instanceof RegExp || typeof v === 'function')
		return String(v).slice(0, 120);
	return JSON.stringify(v);
}

function checkAll(prefix, list) {
	let ok = true;
	for (const [label, actual, expected] of list)
		ok = check(prefix + label, matches(actual, expected),
		    'got ' + show(actual) + ', want ' + show(expected)) && ok;
	return ok;
}

async function cleanup() {
	while (cleanups.length) {
		const fn = cleanups.pop();
		try {
			await fn();
		} catch (e) { /* keep going */ }
	}
}

/* ---------- page instrumentation ---------- */

/*
 * Everything the page asks for, every script error, console error and CSP
 * violation, from the start of each document.
 */
async function instrument(page) {
	const rec = { requests: [], exceptions: [], consoleErrors: [], csp: [] };
	page.on('Network.requestWillBeSent', (p) => rec.requests.push(p.request.url));
	page.on('Runtime.exceptionThrown', (p) => rec.exceptions.push(
	    (p.exceptionDetails.exception && p.exceptionDetails.exception.description) || p.exceptionDetails.text));
	page.on('Runtime.consoleAPICalled', (p) => {
		if (p.type === 'error' || p.type === 'assert')
			rec.consoleErrors.push(p.args.map((a) => a.value || a.description).join(' '));
	});
	page.on('Log.entryAdded', (p) => {
		if (/Content Security Policy/i.test(p.entry.text))
			rec.csp.push(p.entry.text);
	});
	await page.send('Page.enable');
	await page.send('Runtime.enable');
	await page.send('Log.enable');
	await page.send('Network.enable');
	await page.send('Network.setCacheDisabled', { cacheDisabled: true });
	/* Runs before the page's own script, in the page's world. */
	await page.send('Page.addScriptToEvaluateOnNewDocument', {
		source: 'document.addEventListener("securitypolicyviolation", function (e) {' +
		    ' console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI); });'
	});
	return rec;
}

/* Is every request the page made to this host? */
function nonLocal(urls, allowedHosts) {
	return urls.filter((u) => {
		if (/^(data|blob|about):/.test(u))
			return false;
		try {
			return !allowedHosts.includes(new URL(u).hostname);
		} catch (e) {
			return true;
		}
	});
}

/*
 * Contrast of the main text against what is really behind it (the first
 * opaque ancestor background, with translucent layers blended in), per
 * WCAG 2: at least 4.5:1 (3:1 for large text).
 */
const CONTRAST = `(() => {
	const parse = (c) => {
		let m = /rgba?\\(([^)]+)\\)/.exec(c);
		if (m) {
			const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
			return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
		}
		m = /color\\(srgb ([^)]+)\\)/.exec(c);
		if (m) {
			const p = m[1].split(/[ \\/]+/).filter(Boolean).map(Number);
			return [p[0] * 255, p[1] * 255, p[2] * 255, p.length > 3 ? p[3] : 1];
		}
		return [0, 0, 0, 0];
	};
	const over = (top, bot) => {
		const a = top[3];
		return [top[0] * a + bot[0] * (1 - a), top[1] * a + bot[1] * (1 - a), top[2] * a + bot[2] * (1 - a), 1];
	};
	const bgOf = (el) => {
		const layers = [];
		for (let e = el; e; e = e.parentElement) {
			const c = parse(getComputedStyle(e).backgroundColor);
			if (c[3] > 0) {
				layers.push(c);
				if (c[3] >= 1)
					break;
			}
		}
		let bg = [255, 255, 255, 1];
		if (layers.length && layers[layers.length - 1][3] >= 1)
			bg = layers.pop();
		while (layers.length)
			bg = over(layers.pop(), bg);
		return bg;
	};
	const lum = (c) => {
		const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
		return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
	};
	const sels = ['#state-word', '#state-summary', '#alerts li', '.kv dt', '.kv dd', '.counts dt', '.counts dd',
	    '.badge', '.errtext', '.errlist li', '.abs', '#freshness', '.foot p', 'h1', '.card h2', '.btn',
	    '.legend li', '.runs-table-box summary', '#conn-banner'];
	const out = [];
	for (const s of sels) {
		for (const e of document.querySelectorAll(s)) {
			if (!e.getClientRects().length || e.closest('[hidden]'))
				continue;
			const cs = getComputedStyle(e);
			const bg = bgOf(e);
			const fg = over(parse(cs.color), bg);
			const l1 = lum(fg), l2 = lum(bg);
			const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
			const large = parseFloat(cs.fontSize) >= 24 || (parseFloat(cs.fontSize) >= 18.66 && Number(cs.fontWeight) >= 700);
			out.push({ sel: s, ratio: Math.round(ratio * 100) / 100, need: large ? 3 : 4.5, text: e.textContent.trim().slice(0, 30) });
		}
	}
	return out;
})()`;

function checkContrast(prefix, list) {
	const bad = list.filter((c) => c.ratio < c.need);
	const worst = list.slice().sort((a, b) => a.ratio - b.ratio)[0];
	check(prefix + 'text contrast ≥ 4.5:1 (' + list.length + ' elements, lowest ' +
	    (worst ? worst.ratio + ' on ' + worst.sel : '-') + ')',
	    list.length > 10 && bad.length === 0,
	    bad.slice(0, 5).map((c) => c.sel + ' "' + c.text + '" ' + c.ratio).join('; '));
}

/* ---------- visibility ---------- */

/*
 * Hide or show the tab as the browser would: document.hidden and
 * visibilityState change and a visibilitychange event fires.  (Headless
 * Chromium has no window to minimise, so the state is set on the document.)
 */
function setHidden(page, hidden) {
	return page.eval(`(() => {
		const h = ${hidden ? 'true' : 'false'};
		Object.defineProperty(document, 'hidden', { configurable: true, get: () => h });
		Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => h ? 'hidden' : 'visible' });
		document.dispatchEvent(new Event('visibilitychange'));
		return document.visibilityState;
	})()`);
}

/* ---------- phase 1 ---------- */

async function phase1(browser) {
	const ctl = await fx.startServer(WWW);
	cleanups.push(() => new Promise((r) => {
		ctl.server.closeAllConnections();
		ctl.server.close(() => r());
	}));
	const base = 'http://127.0.0.1:' + ctl.port + '/';
	const url = base + '?refresh=2&stale=5';
	let served = null;
	const serve = (make) => {
		ctl.mode = 'json';
		ctl.code = 200;
		ctl.doc = (now) => (served = make(now));
	};

	const page = await browser.newPage();
	const rec = await instrument(page);
	const snap = () => page.eval(SNAPSHOT);
	const waitConn = (c, ms) => page.waitFor(
	    `document.querySelector('#main').getAttribute('data-conn') === ${JSON.stringify(c)}`, ms || 8000, 'data-conn=' + c);

	/* Click "Refresh now" and wait until that request has been answered. */
	const refreshAndWait = async () => {
		const before = ctl.healthHits;
		await page.eval('document.querySelector("#refresh").click()');
		const until = Date.now() + 12000;
		while (ctl.healthHits <= before && Date.now() < until)
			await sleep(50);
		await page.waitFor('document.querySelector("#main").getAttribute("aria-busy") === "false"', 12000, 'fetch answered');
	};

	/* 1. Healthy, desktop. */
	await page.viewport(1280, 900, false);
	serve(fx.healthy);
	await page.navigate(url);
	await waitConn('ok');
	await sleep(300);
	let s = await snap();
	checkAll('healthy: ', expectations(served, s));
	check('healthy: latency has units', s.plane.latency === '123 ms' && s.caldav.latency === '45 ms',
	    s.plane.latency + ' / ' + s.caldav.latency);
	check('healthy: duration in seconds', s.lastDuration === '1.23 s', s.lastDuration);
	check('healthy: checked relative time', /^2 min ago/.test(s.plane.checked), s.plane.checked);
	check('healthy: next sync relative', /^in 4 min/.test(s.nextSync), s.nextSync);
	check('healthy: newest dead letter first', /Plane API 404/.test(s.dead[0] || ''), s.dead[0]);
	check('healthy: dead letter shows event and entity', /issue\.created · ISS-31/.test(s.dead[0] || ''), s.dead[0]);
	check('healthy: uptime', s.uptime === '1 d 2 h', s.uptime);
	check('healthy: freshness says updated', /^Updated/.test(s.freshness), s.freshness);
	check('healthy: no connection banner', s.banner === null && !s.lastKnown, s.banner);
	check('healthy: summary in words', /working/.test(s.summary), s.summary);
	check('healthy: title names the state', /^Healthy/.test(s.title), s.title);
	check('healthy: chart desc names failed runs', /#110, #127/.test(s.svgDesc || ''), s.svgDesc);
	check('desktop 1280: no horizontal overflow', s.scrollWidth <= 1280, 'scrollWidth ' + s.scrollWidth);
	checkContrast('light: ', await page.eval(CONTRAST));
	await page.screenshot(path.join(OUT, 'status.png'), false);
	await page.screenshot(path.join(OUT, 'status-full.png'), true);

	/* 2. Dark mode. */
	await page.send('Emulation.setEmulatedMedia', { features: [{ name: 'prefers-color-scheme', value: 'dark' }] });
	await sleep(200);
	const bg = await page.eval('getComputedStyle(document.body).backgroundColor');
	check('dark: dark background', /rgb\((\d{1,2}), (\d{1,2}), (\d{1,2})\)/.test(bg), bg);
	checkContrast('dark: ', await page.eval(CONTRAST));
	await page.screenshot(path.join(OUT, 'status-dark.png'), false);
	await page.send('Emulation.setEmulatedMedia', { features: [{ name: 'prefers-color-scheme', value: 'light' }] });

	/* 3. Keyboard: Tab reaches "Refresh now", the focus is visible, Enter fetches. */
	await page.navigate(url);
	await waitConn('ok');
	await page.key('Tab');
	const focus = await page.eval(`(() => { const e = document.activeElement; const cs = getComputedStyle(e);
		return { id: e.id, text: e.textContent, style: cs.outlineStyle, width: parseFloat(cs.outlineWidth) }; })()`);
	check('keyboard: Tab reaches "Refresh now"', focus.id === 'refresh' && focus.text === 'Refresh now', JSON.stringify(focus));
	check('keyboard: focus is visible', focus.style !== 'none' && focus.width >= 2, JSON.stringify(focus));
	let hits = ctl.healthHits;
	await page.key('Enter');
	await sleep(400);
	check('keyboard: Enter on "Refresh now" fetches', ctl.healthHits > hits, hits + ' -> ' + ctl.healthHits);

	/* 4. Unhealthy, seen by the next refresh. */
	serve(fx.unhealthy);
	await page.eval('document.querySelector("#refresh").click()');
	await page.waitFor('document.querySelector("#state-word").textContent === "unhealthy"', 8000, 'unhealthy');
	await sleep(200);
	s = await snap();
	checkAll('unhealthy: ', expectations(served, s));
	check('unhealthy: alert code and severity', /critical SYNC_FAILING 3 syncs in a row failed/.test(s.alerts[0] || ''), s.alerts[0]);
	check('unhealthy: title', /^Unhealthy/.test(s.title), s.title);
	check('unhealthy: failed count highlighted',
	    await page.eval('document.querySelector(\'#last-sync [data-c="failed"]\').parentNode.classList.contains("is-bad")'), '');
	await page.screenshot(path.join(OUT, 'status-unhealthy.png'), false);

	/* 5. Degraded. */
	serve(fx.degraded);
	await page.eval('document.querySelector("#refresh").click()');
	await page.waitFor('document.querySelector("#state-word").textContent === "degraded"', 8000, 'degraded');
	s = await snap();
	checkAll('degraded: ', expectations(served, s));

	/* 6. An unhealthy service may answer 503 with the document: still data. */
	serve(fx.unhealthy);
	ctl.code = 503;
	await page.eval('document.querySelector("#refresh").click()');
	await page.waitFor('document.querySelector("#state-word").textContent === "unhealthy"', 8000, 'unhealthy on 503');
	s = await snap();
	check('503 with a health document: shown, not "unreachable"', s.conn === 'ok' && s.banner === null, s.conn + ' ' + s.banner);

	/* 7. A fresh install: nothing run, nothing probed. */
	serve(fx.empty);
	await page.eval('document.querySelector("#refresh").click()');
	await page.waitFor('document.querySelector("#state-word").textContent === "healthy"', 8000, 'empty');
	await sleep(200);
	s = await snap();
	checkAll('fresh install: ', expectations(served, s));

	/* 8. Endpoint unreachable: the last data stays, marked. */
	serve(fx.healthy);
	await page.eval('document.querySelector("#refresh").click()');
	await page.waitFor('document.querySelectorAll("#chart g.run").length > 0', 8000, 'healthy again');
	for (const [mode, why] of [['reset', /network error/], ['http502', /HTTP 502/], ['garbage', /not a health document/]]) {
		ctl.mode = mode;
		await refreshAndWait();
		await waitConn('down', 12000).catch(() => {});
		s = await snap();
		check('unreachable (' + mode + '): marked', s.conn === 'down' && s.mainStale, s.conn);
		check('unreachable (' + mode + '): banner says so', /^Endpoint unreachable/.test(s.banner || '') && why.test(s.banner), s.banner);
		check('unreachable (' + mode + '): last data still shown',
		    s.stateWord === 'healthy' && s.lastKnown && s.counts.unchanged === '42' && s.runBars === served.recent_runs.length,
		    s.stateWord + ' ' + s.counts.unchanged);
		check('unreachable (' + mode + '): header says so', s.freshness === 'Endpoint unreachable', s.freshness);
	}
	await page.screenshot(path.join(OUT, 'status-unreachable.png'), false);
	serve(fx.healthy);
	await waitConn('ok', 6000).catch(() => {});
	s = await snap();
	check('recovers by itself after the endpoint is back', s.conn === 'ok' && s.banner === null && !s.mainStale && !s.lastKnown, s.conn);

	/* 9. Hidden tab: no fetches; data goes stale; back visible: fetches at once. */
	await setHidden(page, true);
	await sleep(500);		/* a request in flight may still land */
	hits = ctl.healthHits;
	await sleep(6000);		/* > refresh 2 s and > stale 5 s */
	check('hidden tab: no refresh while hidden', ctl.healthHits === hits, (ctl.healthHits - hits) + ' requests');
	s = await snap();
	check('stale: marked stale', s.conn === 'stale' && s.mainStale, s.conn);
	check('stale: banner says stale', /^Stale data/.test(s.banner || ''), s.banner);
	await sleep(1200);
	check('stale: the alert text does not tick (no re-announcing)', (await snap()).banner === s.banner, '');
	check('stale: header says stale', /^Stale/.test(s.freshness), s.freshness);
	check('stale: data still shown, as the last known state', s.stateWord === 'healthy' && s.lastKnown, s.stateWord);
	await page.screenshot(path.join(OUT, 'status-stale.png'), false);
	await setHidden(page, false);
	await waitConn('ok', 3000).catch(() => {});
	check('visible again: refreshed at once', ctl.healthHits > hits && (await snap()).conn === 'ok', String(ctl.healthHits - hits));

	/* 10. Hostile strings, with the CSP and without it (the page alone must be safe). */
	for (const csp of [true, false]) {
		const tag = 'hostile (' + (csp ? 'with' : 'without') + ' CSP): ';
		ctl.csp = csp;
		serve(fx.hostile);
		await page.navigate(url);
		await waitConn('ok');
		await page.waitFor('document.querySelectorAll("#chart g.run").length > 0', 5000, 'chart').catch(() => {});
		await sleep(500);
		s = await snap();
		check(tag + 'nothing ran', s.xss === null, 'window.__xss = ' + s.xss);
		check(tag + 'no element made from data', s.imgs === 0 && s.onAttrs === 0, s.imgs + ' elements, ' + s.onAttrs + ' handlers');
		for (const x of fx.XSS)
			check(tag + 'shown as text: ' + x, s.bodyText.includes(x), '');
		checkAll(tag, expectations(served, s));
	}
	ctl.csp = true;

	/* 11. Phone width. */
	serve(fx.unhealthy);
	await page.viewport(375, 812, true);
	await page.navigate(url);
	await waitConn('ok');
	await sleep(300);
	s = await snap();
	check('phone 375: no horizontal overflow', s.scrollWidth <= 375, 'scrollWidth ' + s.scrollWidth);
	checkAll('phone: ', expectations(served, s));
	const chartW = await page.eval('document.querySelector("#chart svg").getBoundingClientRect().width');
	check('phone 375: chart fits', chartW > 250 && chartW <= 375, String(chartW));
	const fontPx = await page.eval('parseFloat(getComputedStyle(document.querySelector("#chart .axis-label")).fontSize) * document.querySelector("#chart svg").getBoundingClientRect().width / document.querySelector("#chart svg").viewBox.baseVal.width');
	check('phone 375: chart labels readable (≥ 10 px)', fontPx >= 10, String(fontPx));
	await page.screenshot(path.join(OUT, 'status-phone.png'), true);
	await page.screenshot(path.join(OUT, 'status-phone-top.png'), false);
	await page.viewport(1280, 900, false);

	/* 12. Over the whole run. */
	const outside = nonLocal(rec.requests, ['127.0.0.1']);
	check('no request left 127.0.0.1 (' + rec.requests.length + ' requests)', rec.requests.length > 0 && outside.length === 0,
	    outside.slice(0, 5).join(', '));
	check('no script errors', rec.exceptions.length === 0, rec.exceptions.slice(0, 3).join(' | '));
	check('no CSP violations', rec.csp.length === 0 && !rec.consoleErrors.some((e) => /CSP/.test(e)),
	    rec.csp.concat(rec.consoleErrors).slice(0, 3).join(' | '));
	check('no console errors from the page', rec.consoleErrors.length === 0, rec.consoleErrors.slice(0, 3).join(' | '));
	const asked = new Set(ctl.requests.map((r) => r.split(' ')[1]));
	check('only page files and the health endpoint requested',
	    [...asked].every((p) => ['/', '/style.css', '/app.js', '/favicon.svg', '/api/v1/health'].includes(p)), [...asked].join(' '));
}

/* ---------- phase 2: the real stack ---------- */

/* A JSON request to the Plane simulator's control API (127.0.0.1). */
function simCall(base, method, p, body) {
	return new Promise((resolve, reject) => {
		const u = new URL(p, base);
		const data = body === undefined ? null : JSON.stringify(body);
		const req = http.request(u, {
			method, timeout: 10000,
			headers: data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {}
		}, (res) => {
			let b = '';
			res.setEncoding('utf8');
			res.on('data', (c) => { b += c; });
			res.on('end', () => (res.statusCode < 300 ? resolve(b) : reject(new Error(method + ' ' + p + ': HTTP ' + res.statusCode + ' ' + b))));
		});
		req.on('timeout', () => req.destroy(new Error('timeout')));
		req.on('error', reject);
		if (data)
			req.write(data);
		req.end();
	});
}

function runSync(cmd) {
	try {
		execFileSync('/bin/sh', ['-c', cmd], { stdio: 'inherit', cwd: ROOT });
	} catch (e) { /* a failing sync may exit non-zero: that is the point */ }
}

function getJson(url) {
	const mod = url.startsWith('https:') ? https : http;
	return new Promise((resolve, reject) => {
		const req = mod.get(url, { rejectUnauthorized: false, timeout: 10000 }, (res) => {
			let body = '';
			res.setEncoding('utf8');
			res.on('data', (c) => { body += c; });
			res.on('end', () => {
				try {
					resolve({ status: res.statusCode, headers: res.headers, doc: JSON.parse(body) });
				} catch (e) {
					reject(new Error(url + ': HTTP ' + res.statusCode + ', not JSON'));
				}
			});
		});
		req.on('timeout', () => req.destroy(new Error('timeout')));
		req.on('error', reject);
	});
}

async function phase2(browser, opts) {
	const base = opts.base.replace(/\/?$/, '/');
	const host = new URL(base).hostname;
	const page = await browser.newPage();
	const rec = await instrument(page);
	const snap = () => page.eval(SNAPSHOT);

	/*
	 * The page and the endpoint are read moments apart; retry until both
	 * agree (a webhook or sync may land between them).
	 */
	async function compare(tag) {
		let last = null;
		for (let i = 0; i < 5; i++) {
			const { doc, headers } = await getJson(base + 'api/v1/health');
			await page.eval('document.querySelector("#refresh").click()');
			await page.waitFor('document.querySelector("#main").getAttribute("aria-busy") === "false" && ' +
			    'document.querySelector("#main").getAttribute("data-conn") === "ok"', 15000, 'page refresh');
			const s = await snap();
			const list = expectations(doc, s);
			last = { doc, s, list, headers };
			if (list.every(([, a, e]) => matches(a, e)))
				break;
			await sleep(500);
		}
		checkAll(tag, last.list);
		return last;
	}

	await page.viewport(1280, 900, false);
	await page.navigate(base + '?refresh=5&stale=60');
	await page.waitFor('document.querySelector("#main").getAttribute("data-conn") === "ok"', 15000, 'first data');
	let r = await compare('stack: ');
	check('stack: nginx sends a CSP', /script-src 'self'/.test(r.headers['content-security-policy'] || ''),
	    r.headers['content-security-policy']);
	check('stack: synced runs are shown', r.s.runBars > 0 && r.s.noSync === false, r.s.runBars + ' runs');
	await page.screenshot(path.join(OUT, 'status-stack.png'), false);

	/*
	 * A hostile string through the real path: Plane answers the project
	 * list with an error whose detail is markup; the sync records it, the
	 * health document carries it, the page must show it as text.
	 */
	if (opts.sim && opts.sync) {
		const x = fx.XSS[0];
		await simCall(opts.sim, 'POST', '/_sim/faults', {
			path_regex: '/projects/', method: 'GET', status: 500,
			body: JSON.stringify({ detail: x }), content_type: 'application/json', times: 50
		});
		runSync(opts.sync);
		await simCall(opts.sim, 'DELETE', '/_sim/faults');
		r = await compare('stack, hostile Plane error: ');
		await sleep(300);
		const h = await snap();
		const inDoc = JSON.stringify(r.doc).includes(JSON.stringify(x).slice(1, -1));
		check('stack, hostile Plane error: in the health document', inDoc, '');
		check('stack, hostile Plane error: shown as text', h.bodyText.includes(x), '');
		check('stack, hostile Plane error: nothing ran, no element made', h.xss === null && h.imgs === 0 && h.onAttrs === 0,
		    'xss=' + h.xss + ' imgs=' + h.imgs);
		await page.screenshot(path.join(OUT, 'status-stack-hostile.png'), false);
		runSync(opts.sync);		/* healthy again before the next case */
		r = await compare('stack, recovered: ');
		check('stack, recovered: healthy', r.s.stateWord === 'healthy', r.s.stateWord);
	}

	if (opts.stopCaldav && opts.sync) {
		execFileSync('/bin/sh', ['-c', opts.stopCaldav], { stdio: 'inherit', cwd: ROOT });
		runSync(opts.sync);
		r = await compare('stack, CalDAV stopped: ');
		check('stack, CalDAV stopped: unhealthy', r.s.stateWord === 'unhealthy', r.s.stateWord);
		check('stack, CalDAV stopped: CalDAV unreachable', r.s.caldav.ok === 'Unreachable', r.s.caldav.ok);
		check('stack, CalDAV stopped: last sync failed', r.s.lastStatus === 'failed', r.s.lastStatus);
		await page.screenshot(path.join(OUT, 'status-stack-unhealthy.png'), false);
		if (opts.startCaldav)
			execFileSync('/bin/sh', ['-c', opts.startCaldav], { stdio: 'inherit', cwd: ROOT });
	}
	const outside = nonLocal(rec.requests, [host]);
	check('stack: no request left ' + host, rec.requests.length > 0 && outside.length === 0, outside.join(', '));
	check('stack: no script errors or CSP violations', rec.exceptions.length + rec.csp.length + rec.consoleErrors.length === 0,
	    rec.exceptions.concat(rec.csp, rec.consoleErrors).slice(0, 3).join(' | '));
}

/* ---------- main ---------- */

function parseArgs(argv) {
	const o = {};
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		const val = () => {
			if (i + 1 >= argv.length)
				throw new Error(a + ' needs a value');
			return argv[++i];
		};
		if (a === '--base') o.base = val();
		else if (a === '--stop-caldav') o.stopCaldav = val();
		else if (a === '--start-caldav') o.startCaldav = val();
		else if (a === '--sync') o.sync = val();
		else if (a === '--sim') o.sim = val();
		else throw new Error('unknown argument ' + a);
	}
	return o;
}

async function main() {
	const opts = parseArgs(process.argv.slice(2));
	if (!fs.existsSync(CHROMIUM)) {
		console.log('FAIL chromium not found at ' + CHROMIUM + ' (make deps installs it)');
		tally.failed++;
		return;
	}
	fs.mkdirSync(OUT, { recursive: true });
	tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpb-ui-'));
	cleanups.push(() => fs.rmSync(tmpDir, { recursive: true, force: true }));
	const log = path.join(tmpDir, 'chromium.log');
	const extraArgs = [];
	/* Nothing but the host under test resolves: a stray request cannot leave. */
	const host = opts.base ? new URL(opts.base).hostname : '127.0.0.1';
	extraArgs.push('--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE ' + host);
	if (opts.base)
		extraArgs.push('--ignore-certificate-errors');	/* make run's self-signed certificate */
	const browser = await launch({
		userDataDir: path.join(tmpDir, 'profile'), env: { TZ: 'UTC' }, log, extraArgs
	});
	cleanups.push(() => browser.close());
	try {
		if (opts.base)
			await phase2(browser, opts);
		else
			await phase1(browser);
	} catch (e) {
		if (finished)
			return;		/* interrupted: Chromium was stopped under us */
		check('test ran to the end', false, e.stack || String(e));
		try {
			console.log('--- chromium log (tail) ---\n' + fs.readFileSync(log, 'utf8').split('\n').slice(-15).join('\n'));
		} catch (e2) { /* none */ }
	}
}

let finished = false;
async function finish(code) {
	if (finished)
		return;
	finished = true;
	await cleanup();
	console.log(tally.passed + ' passed, ' + tally.failed + ' failed');
	process.exit(code !== undefined ? code : (tally.failed ? 1 : 0));
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
	process.on(sig, () => {
		console.log('FAIL interrupted by ' + sig);
		tally.failed++;
		finish(1);
	});
}
const guard = setTimeout(() => {
	console.log('FAIL the whole test took longer than ' + TOTAL_TIMEOUT_MS / 1000 + ' s');
	tally.failed++;
	finish(1);
}, TOTAL_TIMEOUT_MS);
guard.unref();

main().then(() => finish(), (e) => {
	console.log('FAIL ' + (e.stack || e));
	tally.failed++;
	finish(1);
});


