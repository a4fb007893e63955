/*
 * expect.js - what the status page must show for a given health document,
 * and the in-page probes the test reads it with.  Used against the local
 * fixture server (phase 1) and against the real stack (phase 2), so the
 * expectations are derived from the JSON, never hard-coded to a fixture.
 *
 * Times: Chromium runs with TZ=UTC, so absolute times read
 * "YYYY-MM-DD HH:MM:SS UTC".
 */
'use strict';

const nf = new Intl.NumberFormat('en-US');

function int(n) {
	return nf.format(Math.round(n));
}

function plural(n, one, many) {
	return int(n) + ' ' + (n === 1 ? one : many);
}

function abs(isoText) {
	const t = Date.parse(isoText);
	if (!isFinite(t))
		return null;
	return new Date(t).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC');
}

/* The page's duration format: ms under a second, then s, min, h, d. */
function fmtMs(ms) {
	if (typeof ms !== 'number' || !isFinite(ms) || ms < 0)
		return '–';
	if (ms < 1000)
		return int(ms) + ' ms';
	let s = ms / 1000;
	if (s < 10)
		return (Math.round(s * 100) / 100).toFixed(2).replace(/\.?0+$/, '') + ' s';
	if (s < 60)
		return (Math.round(s * 10) / 10).toFixed(1).replace(/\.0$/, '') + ' s';
	s = Math.round(s);
	if (s < 3600)
		return Math.floor(s / 60) + ' min' + (s % 60 ? ' ' + (s % 60) + ' s' : '');
	if (s < 86400) {
		const m = Math.floor((s % 3600) / 60);
		return Math.floor(s / 3600) + ' h' + (m ? ' ' + m + ' min' : '');
	}
	const h = Math.floor((s % 86400) / 3600);
	return Math.floor(s / 86400) + ' d' + (h ? ' ' + h + ' h' : '');
}

/*
 * Everything the checks need, read from the page in one evaluation.
 * Whitespace is collapsed.
 */
const SNAPSHOT = `(() => {
	const norm = (s) => s === null || s === undefined ? null : String(s).replace(/\\s+/g, ' ').trim();
	const q = (s) => { const e = document.querySelector(s); return e ? norm(e.textContent) : null; };
	const all = (s) => Array.from(document.querySelectorAll(s)).map((e) => norm(e.textContent));
	const vis = (s) => { const e = document.querySelector(s); return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0; };
	const svc = (id) => ({
		ok: q(id + ' [data-f="ok"]'), checked: q(id + ' [data-f="checked_at"]'),
		latency: q(id + ' [data-f="latency_ms"]'), error: q(id + ' [data-f="error"]')
	});
	const svgEl = document.querySelector('#chart svg');
	const counts = {};
	for (const k of ['created', 'updated', 'deleted', 'unchanged', 'skipped', 'failed'])
		counts[k] = q('#last-sync [data-c="' + k + '"]');
	return {
		title: document.title,
		conn: document.querySelector('#main').getAttribute('data-conn'),
		mainStale: document.querySelector('#main').classList.contains('is-stale'),
		freshness: q('#freshness'),
		banner: vis('#conn-banner') ? q('#conn-banner') : null,
		overallClass: document.querySelector('#overall').className,
		ariaLive: document.querySelector('#overall [aria-live]') ? document.querySelector('#overall [aria-live]').getAttribute('aria-live') : null,
		stateWord: q('#state-word'),
		lastKnown: vis('#last-known'),
		summary: q('#state-summary'),
		alerts: all('#alerts li'),
		plane: svc('#svc-plane'),
		caldav: svc('#svc-caldav'),
		syncStatus: q('#schedule [data-f="sync_status"]'),
		nextSync: q('#schedule [data-f="next_sync_at"]'),
		consecutive: q('#schedule [data-f="consecutive_failures"]'),
		noSync: vis('#last-sync [data-f="none"]'),
		lastId: q('#last-sync [data-f="id"]'),
		lastStatus: q('#last-sync [data-f="status"]'),
		lastStarted: q('#last-sync [data-f="started_at"]'),
		lastEnded: q('#last-sync [data-f="ended_at"]'),
		lastDuration: q('#last-sync [data-f="duration_ms"]'),
		counts,
		lastErrors: vis('#last-sync [data-f="errors"]') ? all('#last-sync [data-f="errors"] li') : [],
		queue: q('#webhooks [data-f="queue_depth"]'),
		deadCount: q('#webhooks [data-f="dead_count"]'),
		dead: vis('#webhooks [data-f="dead"]') ? all('#webhooks [data-f="dead"] li.dead') : [],
		deadErrors: all('#webhooks [data-f="dead"] li.dead .errtext'),
		svgCount: document.querySelectorAll('#chart svg').length,
		svgRole: svgEl ? svgEl.getAttribute('role') : null,
		svgTitle: svgEl && svgEl.querySelector('title') ? norm(svgEl.querySelector('title').textContent) : null,
		svgDesc: svgEl && svgEl.querySelector('desc') ? norm(svgEl.querySelector('desc').textContent) : null,
		svgLabelled: svgEl ? !!document.getElementById(svgEl.getAttribute('aria-labelledby') || '-') : false,
		svgDescribed: svgEl ? !!document.getElementById(svgEl.getAttribute('aria-describedby') || '-') : false,
		runBars: document.querySelectorAll('#chart g.run').length,
		failMarks: document.querySelectorAll('#chart .fail-mark').length,
		failedBars: document.querySelectorAll('#chart g.run-failed').length,
		tableRows: document.querySelectorAll('#runs-body tr').length,
		noRuns: vis('#runs [data-f="none"]'),
		version: q('#version'),
		uptime: q('#uptime'),
		bodyText: norm(document.body.innerText),
		imgs: document.querySelectorAll('img, iframe, object, embed, script:not([src])').length,
		onAttrs: Array.from(document.querySelectorAll('*')).filter((e) => Array.from(e.attributes).some((a) => /^on/i.test(a.name))).length,
		styleAttrs: document.querySelectorAll('[style]').length,
		scrollWidth: document.documentElement.scrollWidth,
		clientWidth: document.documentElement.clientWidth,
		xss: window.__xss === undefined ? null : window.__xss
	};
})()`;

/*
 * The checks for one health document: [label, actual, expected] where
 * expected is a string (equal), a RegExp (match) or a function (predicate).
 */
function expectations(d, s) {
	const out = [];
	const add = (label, actual, expected) => out.push([label, actual, expected]);
	const has = (needle) => (v) => typeof v === 'string' && v.includes(needle);

	add('state word', s.stateWord, d.status);
	add('state colour class', s.overallClass, has('state-' + d.status));
	add('state is an aria-live region', s.ariaLive, 'polite');
	for (const a of d.alerts || [])
		add('alert shown: ' + a.code, s.alerts.join(' | '), has(a.message));
	if (d.status !== 'healthy')
		add('reasons listed when not healthy', s.alerts.length, (n) => n > 0);

	for (const [name, p, got] of [['Plane API', d.plane_api, s.plane], ['CalDAV', d.caldav_server, s.caldav]]) {
		add(name + ' reachable', got.ok, p.ok === true ? 'Reachable' : p.ok === false ? 'Unreachable' : 'Not checked yet');
		add(name + ' latency', got.latency, typeof p.latency_ms === 'number' ? int(p.latency_ms) + ' ms' : '–');
		if (p.checked_at) {
			add(name + ' checked (absolute)', got.checked, has(abs(p.checked_at)));
			add(name + ' checked (relative)', got.checked, /(ago|just now)/);
		} else {
			add(name + ' never checked', got.checked, 'never');
		}
		add(name + ' error', got.error, p.error ? p.error : 'none');
	}

	const ls = d.last_sync;
	if (!ls) {
		add('no sync yet', s.noSync, true);
	} else {
		add('last sync id', s.lastId, '#' + ls.id);
		add('last sync result', s.lastStatus, ls.status);
		add('last sync started (absolute)', s.lastStarted, has(abs(ls.started_at)));
		add('last sync started (relative)', s.lastStarted, /(ago|just now)/);
		if (ls.ended_at)
			add('last sync ended', s.lastEnded, has(abs(ls.ended_at)));
		if (typeof ls.duration_ms === 'number')
			add('last sync duration', s.lastDuration, fmtMs(ls.duration_ms));
		for (const k of ['created', 'updated', 'deleted', 'unchanged', 'skipped', 'failed'])
			add('count ' + k, s.counts[k], int(ls.counts[k]));
		add('last sync errors', JSON.stringify(s.lastErrors), JSON.stringify((ls.errors || []).slice(0, 20)));
	}

	add('sync status', s.syncStatus, d.sync_status === 'idle' ? 'Idle' : d.sync_status === 'running' ? 'Running' : d.sync_status);
	if (d.next_sync_at) {
		add('next sync (absolute)', s.nextSync, has(abs(d.next_sync_at)));
		add('next sync (relative)', s.nextSync, /^(in |in a moment|just now|\d+ \w+ ago)/);
	} else {
		add('next sync not scheduled', s.nextSync, 'not scheduled');
	}
	add('failures in a row', s.consecutive, plural(d.consecutive_failures, 'run', 'runs'));
	add('queue depth', s.queue, plural(d.queue_depth, 'event', 'events'));
	add('dead letters count', s.deadCount, plural(d.dead_letters.count, 'event', 'events'));
	const recent = (d.dead_letters.recent || []).slice()
	    .sort((a, b) => Date.parse(b.failed_at) - Date.parse(a.failed_at)).slice(0, 5);
	add('dead letters shown, newest first, with error', JSON.stringify(s.deadErrors), JSON.stringify(recent.map((r) => r.error)));

	const runs = d.recent_runs || [];
	if (runs.length) {
		add('chart is one inline svg', s.svgCount, 1);
		add('chart role', s.svgRole, 'img');
		add('chart title', s.svgTitle, /\S/);
		add('chart labelled and described', s.svgLabelled && s.svgDescribed, true);
		add('chart desc counts runs', s.svgDesc, has(plural(runs.length, 'run', 'runs')));
		add('chart has a column per run', s.runBars, runs.length);
		const nf = runs.filter((r) => r.status === 'failed').length;
		add('failed runs marked', s.failMarks, nf);
		add('failed runs coloured', s.failedBars, nf);
		add('runs table rows', s.tableRows, runs.length);
	} else {
		add('no runs yet', s.noRuns, true);
	}
	add('version', s.version, d.version);
	add('no style attributes', s.styleAttrs, 0);
	add('no inline event handlers', s.onAttrs, 0);
	return out;
}

function matches(actual, expected) {
	if (expected instanceof RegExp)
		return typeof actual === 'string' && expected.test(actual);
	if (typeof expected === 'function')
		return !!expected(actual);
	return actual === expected;
}

module.exports = { SNAPSHOT, expectations, matches, fmtMs, abs, int, plural };
