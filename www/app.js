/*
 * app.js - the CalPlaneBot status page.
 *
 * Reads GET api/v1/health (same origin) every 15 s while the tab is visible
 * and draws it.  Rules this file keeps:
 *
 *  - Everything that comes from the API is inserted as text (textContent,
 *    createTextNode, setAttribute on inert attributes).  No innerHTML, no
 *    eval, no inline handlers: the page runs under a CSP without
 *    'unsafe-inline', and an error message such as <img src=x onerror=...>
 *    must show as those characters.
 *  - The last good answer stays on screen when the endpoint fails or the
 *    data grows old; it is then marked (stale / endpoint unreachable).
 *  - Freshness is measured with this browser's clock (time since the last
 *    good answer), so a skewed server clock cannot make data look fresh.
 *
 * Query parameters, for tests and for impatient operators (seconds,
 * bounded): ?refresh=15&stale=60.
 */
(function () {
	'use strict';

	var SVG_NS = 'http://www.w3.org/2000/svg';
	var ENDPOINT = 'api/v1/health';
	var FETCH_TIMEOUT_MS = 10000;
	var MAX_ERRORS_SHOWN = 20;
	var MAX_DEAD_SHOWN = 5;

	function paramSeconds(name, def, min, max) {
		var v;
		try {
			v = new URLSearchParams(window.location.search).get(name);
		} catch (e) {
			return def;
		}
		if (v === null || !/^[0-9]+(\.[0-9]+)?$/.test(v))
			return def;
		v = Number(v);
		if (!isFinite(v) || v < min || v > max)
			return def;
		return v;
	}

	var REFRESH_MS = paramSeconds('refresh', 15, 1, 3600) * 1000;
	var STALE_MS = paramSeconds('stale', 60, 2, 86400) * 1000;

	var st = {
		data: null,		/* last good answer */
		okAt: 0,		/* Date.now() when it arrived */
		err: null,		/* message of the last failure, or null */
		errAt: 0,
		timer: null,
		inflight: false,
		rel: [],		/* [{el, t}] relative times to keep current */
		chartWidth: 0
	};

	/* ---------- small DOM helpers (text only) ---------- */

	function $(sel, root) {
		return (root || document).querySelector(sel);
	}

	function clear(node) {
		while (node.firstChild)
			node.removeChild(node.firstChild);
	}

	function el(tag, cls, text) {
		var e = document.createElement(tag);
		if (cls)
			e.className = cls;
		if (text !== undefined && text !== null)
			e.textContent = String(text);
		return e;
	}

	function svg(tag, attrs, text) {
		var e = document.createElementNS(SVG_NS, tag);
		var k;
		for (k in attrs)
			if (Object.prototype.hasOwnProperty.call(attrs, k))
				e.setAttribute(k, String(attrs[k]));
		if (text !== undefined && text !== null)
			e.textContent = String(text);
		return e;
	}

	/* Only when it changed: a live region re-announces every write. */
	function setText(node, text) {
		var t = text === undefined || text === null ? '' : String(text);
		if (node && node.textContent !== t)
			node.textContent = t;
	}

	/* Replace a node's content with the given nodes or strings. */
	function fill(node) {
		var i, a;
		if (!node)
			return;
		clear(node);
		for (i = 1; i < arguments.length; i++) {
			a = arguments[i];
			if (a === null || a === undefined)
				continue;
			node.appendChild(typeof a === 'object' ? a : document.createTextNode(String(a)));
		}
	}

	function badge(kind, text) {
		return el('span', 'badge badge-' + kind, text);
	}

	/* ---------- formatting ---------- */

	var nf = new Intl.NumberFormat('en-US');

	function isNum(v) {
		return typeof v === 'number' && isFinite(v);
	}

	function int(v) {
		return isNum(v) ? nf.format(Math.round(v)) : '–';
	}

	function plural(n, one, many) {
		return int(n) + ' ' + (n === 1 ? one : many);
	}

	function fmtMs(ms) {
		if (!isNum(ms) || ms < 0)
			return '–';
		if (ms < 1000)
			return nf.format(Math.round(ms)) + ' ms';
		return fmtSeconds(ms / 1000);
	}

	function fmtSeconds(s) {
		var h, m;
		if (!isNum(s) || s < 0)
			return '–';
		if (s < 10)
			return (Math.round(s * 100) / 100).toFixed(2).replace(/\.?0+$/, '') + ' s';
		if (s < 60)
			return (Math.round(s * 10) / 10).toFixed(1).replace(/\.0$/, '') + ' s';
		s = Math.round(s);
		if (s < 3600) {
			m = Math.floor(s / 60);
			return m + ' min' + (s % 60 ? ' ' + (s % 60) + ' s' : '');
		}
		if (s < 86400) {
			h = Math.floor(s / 3600);
			m = Math.floor((s % 3600) / 60);
			return h + ' h' + (m ? ' ' + m + ' min' : '');
		}
		h = Math.floor((s % 86400) / 3600);
		return Math.floor(s / 86400) + ' d' + (h ? ' ' + h + ' h' : '');
	}

	function parseTime(iso) {
		var t;
		if (typeof iso !== 'string' || iso === '')
			return NaN;
		t = Date.parse(iso);
		return isFinite(t) ? t : NaN;
	}

	function fmtRel(t, now) {
		var d = Math.round((now - t) / 1000);
		var a = Math.abs(d);
		var s;
		if (a < 5)
			return d >= 0 ? 'just now' : 'in a moment';
		if (a < 60)
			s = a + ' s';
		else if (a < 3600)
			s = Math.round(a / 60) + ' min';
		else if (a < 86400 * 2)
			s = (Math.round(a / 360) / 10).toString().replace(/\.0$/, '') + ' h';
		else
			s = Math.round(a / 86400) + ' days';
		return d >= 0 ? s + ' ago' : 'in ' + s;
	}

	function pad(n) {
		return (n < 10 ? '0' : '') + n;
	}

	/* Local time, unambiguous: 2026-11-28 19:00:05 UTC+1 */
	function fmtAbs(t) {
		var d = new Date(t);
		var off = -d.getTimezoneOffset();
		var tz = 'UTC';
		if (off !== 0)
			tz += (off > 0 ? '+' : '-') + Math.floor(Math.abs(off) / 60) +
			    (Math.abs(off) % 60 ? ':' + pad(Math.abs(off) % 60) : '');
		return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) +
		    ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) +
		    ' ' + tz;
	}

	function fmtClock(t) {
		var d = new Date(t);
		return pad(d.getHours()) + ':' + pad(d.getMinutes());
	}

	/*
	 * A time as "3 min ago" with the absolute time below it, in a <time>
	 * element.  The relative part is kept current by the ticker.
	 */
	function timeNode(iso, never) {
		var t = parseTime(iso);
		var wrap, rel;
		if (!isFinite(t))
			return el('span', 'none', iso ? String(iso) : (never || 'never'));
		wrap = el('time', 'when');
		wrap.setAttribute('datetime', iso);
		rel = el('span', 'rel', fmtRel(t, Date.now()));
		st.rel.push({ el: rel, t: t });
		wrap.appendChild(rel);
		wrap.appendChild(el('span', 'abs', fmtAbs(t)));
		return wrap;
	}

	/* ---------- rendering ---------- */

	var STATE_TEXT = {
		healthy: 'Plane → calendar sync is working.',
		degraded: 'Sync is working, with problems:',
		unhealthy: 'Sync is not working:'
	};

	function renderOverall(d) {
		var sec = $('#overall');
		var status = typeof d.status === 'string' ? d.status : 'unknown';
		var known = Object.prototype.hasOwnProperty.call(STATE_TEXT, status);
		var alerts = Array.isArray(d.alerts) ? d.alerts : [];
		var list = $('#alerts');
		var i, a, li, reasons;

		sec.className = 'overall state-' + (known ? status : 'unknown');
		sec.setAttribute('data-status', status);
		setText($('#state-word'), status);
		setText($('#state-summary'), known ? STATE_TEXT[status] : 'The health endpoint reports an unknown state.');
		if (status === 'healthy' && alerts.length)
			setText($('#state-summary'), 'Plane → calendar sync is working. Notes:');

		clear(list);
		for (i = 0; i < alerts.length; i++) {
			a = alerts[i] || {};
			li = el('li', 'alert');
			li.appendChild(el('span', 'alert-sev', a.severity || 'alert'));
			li.appendChild(document.createTextNode(' '));
			if (a.code) {
				li.appendChild(el('span', 'alert-code', a.code));
				li.appendChild(document.createTextNode(' '));
			}
			li.appendChild(document.createTextNode(a.message ? String(a.message) : ''));
			list.appendChild(li);
		}
		/* Not healthy and no alert given: say what we can see. */
		if (!alerts.length && status !== 'healthy') {
			reasons = derivedReasons(d);
			for (i = 0; i < reasons.length; i++)
				list.appendChild(el('li', 'alert', reasons[i]));
		}
		document.title = (known ? status.charAt(0).toUpperCase() + status.slice(1) : 'Unknown') +
		    ' · CalPlaneBot status';
	}

	function derivedReasons(d) {
		var r = [];
		if (d.plane_api && d.plane_api.ok === false)
			r.push('Plane API unreachable' + (d.plane_api.error ? ': ' + d.plane_api.error : ''));
		if (d.caldav_server && d.caldav_server.ok === false)
			r.push('CalDAV server unreachable' + (d.caldav_server.error ? ': ' + d.caldav_server.error : ''));
		if (d.last_sync && d.last_sync.status === 'failed')
			r.push('The last sync failed.');
		if (isNum(d.consecutive_failures) && d.consecutive_failures > 0)
			r.push(plural(d.consecutive_failures, 'failed sync', 'failed syncs') + ' in a row.');
		if (d.dead_letters && isNum(d.dead_letters.count) && d.dead_letters.count > 0)
			r.push(plural(d.dead_letters.count, 'webhook event', 'webhook events') + ' in the dead letters.');
		return r;
	}

	function renderService(sec, p) {
		var f = function (k) { return $('[data-f="' + k + '"]', sec); };
		p = p && typeof p === 'object' ? p : {};
		sec.setAttribute('data-ok', p.ok === true ? 'true' : p.ok === false ? 'false' : 'null');
		if (p.ok === true)
			fill(f('ok'), badge('ok', 'Reachable'));
		else if (p.ok === false)
			fill(f('ok'), badge('bad', 'Unreachable'));
		else
			fill(f('ok'), badge('unknown', 'Not checked yet'));
		fill(f('checked_at'), timeNode(p.checked_at, 'never'));
		fill(f('latency_ms'), isNum(p.latency_ms) ? el('span', 'num', fmtLatency(p.latency_ms)) : el('span', 'none', '–'));
		if (p.error)
			fill(f('error'), el('span', 'errtext', p.error));
		else
			fill(f('error'), el('span', 'none', 'none'));
	}

	function fmtLatency(ms) {
		return nf.format(Math.round(ms)) + ' ms';
	}

	var RESULT_BADGE = { ok: 'ok', partial: 'warn', failed: 'bad', running: 'unknown' };

	function resultBadge(s) {
		var kind = Object.prototype.hasOwnProperty.call(RESULT_BADGE, s) ? RESULT_BADGE[s] : 'unknown';
		return badge(kind, s === undefined || s === null ? 'unknown' : s);
	}

	function renderLastSync(ls) {
		var sec = $('#last-sync');
		var f = function (k) { return $('[data-f="' + k + '"]', sec); };
		var c, k, dd, box, list, errs, i, t;
		var keys = ['created', 'updated', 'deleted', 'unchanged', 'skipped', 'failed'];

		if (!ls || typeof ls !== 'object') {
			f('none').hidden = false;
			f('details').hidden = true;
			f('counts').hidden = true;
			f('errors-box').hidden = true;
			setText(f('id'), '');
			return;
		}
		f('none').hidden = true;
		f('details').hidden = false;
		f('counts').hidden = false;
		setText(f('id'), isNum(ls.id) ? '#' + ls.id : '');
		fill(f('status'), resultBadge(ls.status));
		fill(f('started_at'), timeNode(ls.started_at, 'unknown'));
		if (ls.ended_at)
			fill(f('ended_at'), timeNode(ls.ended_at));
		else
			fill(f('ended_at'), el('span', 'none', ls.status === 'running' ? 'still running' : '–'));
		if (isNum(ls.duration_ms))
			fill(f('duration_ms'), el('span', 'num', fmtMs(ls.duration_ms)));
		else if (ls.status === 'running' && isFinite(t = parseTime(ls.started_at)))
			fill(f('duration_ms'), el('span', 'num', 'running for ' + fmtMs(Math.max(0, Date.now() - t))));
		else
			fill(f('duration_ms'), el('span', 'none', '–'));

		c = ls.counts && typeof ls.counts === 'object' ? ls.counts : {};
		for (i = 0; i < keys.length; i++) {
			k = keys[i];
			dd = $('[data-c="' + k + '"]', sec);
			setText(dd, int(c[k]));
			dd.parentNode.classList.toggle('is-bad', k === 'failed' && isNum(c[k]) && c[k] > 0);
		}

		errs = Array.isArray(ls.errors) ? ls.errors : [];
		box = f('errors-box');
		list = f('errors');
		clear(list);
		box.hidden = errs.length === 0;
		for (i = 0; i < errs.length && i < MAX_ERRORS_SHOWN; i++)
			list.appendChild(el('li', null, errs[i]));
		if (errs.length > MAX_ERRORS_SHOWN)
			list.appendChild(el('li', 'more', 'and ' + (errs.length - MAX_ERRORS_SHOWN) + ' more'));
	}

	function renderSchedule(d) {
		var sec = $('#schedule');
		var f = function (k) { return $('[data-f="' + k + '"]', sec); };
		var cf = d.consecutive_failures;
		if (d.sync_status === 'running')
			fill(f('sync_status'), badge('unknown', 'Running'));
		else if (d.sync_status === 'idle')
			fill(f('sync_status'), 'Idle');
		else
			fill(f('sync_status'), el('span', 'none', d.sync_status ? String(d.sync_status) : '–'));
		fill(f('next_sync_at'), timeNode(d.next_sync_at, 'not scheduled'));
		if (isNum(cf))
			fill(f('consecutive_failures'), cf > 0 ? badge('bad', plural(cf, 'run', 'runs')) : plural(cf, 'run', 'runs'));
		else
			fill(f('consecutive_failures'), el('span', 'none', '–'));
	}

	function renderWebhooks(d) {
		var sec = $('#webhooks');
		var f = function (k) { return $('[data-f="' + k + '"]', sec); };
		var dl = d.dead_letters && typeof d.dead_letters === 'object' ? d.dead_letters : {};
		var recent = Array.isArray(dl.recent) ? dl.recent.slice() : [];
		var list = f('dead');
		var i, r, li, head, meta;

		fill(f('queue_depth'), el('span', 'num', isNum(d.queue_depth) ? plural(d.queue_depth, 'event', 'events') : '–'));
		if (isNum(dl.count))
			fill(f('dead_count'), dl.count > 0 ? badge('bad', plural(dl.count, 'event', 'events')) : plural(dl.count, 'event', 'events'));
		else
			fill(f('dead_count'), el('span', 'none', '–'));

		/* Newest first, whatever order the API used. */
		recent.sort(function (a, b) {
			var ta = parseTime(a && a.failed_at), tb = parseTime(b && b.failed_at);
			if (isFinite(ta) && isFinite(tb) && ta !== tb)
				return tb - ta;
			return ((b && b.id) || 0) - ((a && a.id) || 0);
		});
		clear(list);
		f('dead-box').hidden = recent.length === 0;
		for (i = 0; i < recent.length && i < MAX_DEAD_SHOWN; i++) {
			r = recent[i] || {};
			li = el('li', 'dead');
			head = el('span', 'dl-head');
			head.appendChild(el('span', 'dl-event', r.event || 'event'));
			if (r.entity_id)
				head.appendChild(document.createTextNode(' · ' + r.entity_id));
			li.appendChild(head);
			li.appendChild(el('span', 'errtext', r.error || 'no error recorded'));
			meta = el('span', 'dl-meta abs');
			meta.appendChild(document.createTextNode('failed '));
			if (isFinite(parseTime(r.failed_at))) {
				var rel = el('span', 'rel', fmtRel(parseTime(r.failed_at), Date.now()));
				st.rel.push({ el: rel, t: parseTime(r.failed_at) });
				meta.appendChild(rel);
				meta.appendChild(document.createTextNode(' (' + fmtAbs(parseTime(r.failed_at)) + ')'));
			} else {
				meta.appendChild(document.createTextNode(r.failed_at ? String(r.failed_at) : 'at an unknown time'));
			}
			if (r.delivery)
				meta.appendChild(document.createTextNode(' · delivery ' + r.delivery));
			if (isNum(r.id))
				meta.appendChild(document.createTextNode(' · #' + r.id));
			li.appendChild(meta);
			list.appendChild(li);
		}
		if (isNum(dl.count) && dl.count > Math.min(recent.length, MAX_DEAD_SHOWN))
			list.appendChild(el('li', 'more', 'and ' + plural(dl.count - Math.min(recent.length, MAX_DEAD_SHOWN), 'more', 'more')));
	}

	function renderFooter(d) {
		setText($('#version'), d.version ? d.version : '–');
		setText($('#uptime'), isNum(d.uptime_seconds) ? fmtSeconds(d.uptime_seconds) : '–');
		fill($('#server-time'), isFinite(parseTime(d.timestamp)) ? fmtAbs(parseTime(d.timestamp)) : (d.timestamp || '–'));
	}

	/* ---------- chart of recent runs ---------- */

	function changesOf(r) {
		var n = 0;
		if (isNum(r.created)) n += r.created;
		if (isNum(r.updated)) n += r.updated;
		if (isNum(r.deleted)) n += r.deleted;
		return n;
	}

	/* A round top for a scale; counts get one whose half is whole too. */
	function niceMax(v, counts) {
		var p, m, i, steps = counts ? [1, 2, 4, 6, 8, 10] : [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10];
		if (!(v > 0))
			return counts ? 2 : 1;
		if (counts && v <= 2)
			return 2;
		p = Math.pow(10, Math.floor(Math.log(v) / Math.LN10));
		m = v / p;
		for (i = 0; i < steps.length; i++)
			if (m <= steps[i])
				return steps[i] * p;
		return 10 * p;
	}

	/*
	 * The top of a panel's scale.  One very long run (a timeout) or one
	 * huge first sync would flatten every other bar, so values far above
	 * the 90th percentile are cut at the top and marked instead.
	 */
	function scaleFor(values, counts) {
		var v = values.slice().sort(function (a, b) { return a - b; });
		var max = v.length ? v[v.length - 1] : 0;
		var p90 = v.length ? v[Math.floor(0.9 * (v.length - 1))] : 0;
		if (v.length >= 5 && p90 > 0 && max > p90 * 4)
			return niceMax(p90 * 2, counts);
		return niceMax(max, counts);
	}

	function barClass(status) {
		if (status === 'failed') return 'bar-failed';
		if (status === 'partial') return 'bar-partial';
		if (status === 'running') return 'bar-running';
		return 'bar-ok';
	}

	function runsOf(d) {
		var runs = Array.isArray(d.recent_runs) ? d.recent_runs : [];
		return runs.filter(function (r) { return r && typeof r === 'object'; });
	}

	function renderChart(d) {
		var box = $('#chart');
		var runs = runsOf(d);
		var W = Math.max(280, Math.floor(box.clientWidth || 600));
		var padL = 58, padR = 8, padT = 34, gap = 34, padB = 22;
		var h1 = W < 500 ? 100 : 130, h2 = W < 500 ? 64 : 80;
		var H = padT + h1 + gap + h2 + padB;
		var plotW = W - padL - padR;
		var n = runs.length;
		var slot = plotW / Math.max(n, 12);
		var bw = Math.max(2, Math.min(slot * 0.72, 26));
		var maxDur = 0, maxChg = 0, failed = [], i, r, x, hgt, cls, g, tip, y0, y1, t0, t1;
		var root, title, desc, dmax, cmax, uid = 'runs-chart', cut = 0;

		st.chartWidth = W;
		clear(box);
		if (!n)
			return;
		for (i = 0; i < n; i++) {
			r = runs[i];
			if (isNum(r.duration_ms) && r.duration_ms > maxDur) maxDur = r.duration_ms;
			if (changesOf(r) > maxChg) maxChg = changesOf(r);
			if (r.status === 'failed') failed.push(r);
		}
		dmax = scaleFor(runs.map(function (q) { return isNum(q.duration_ms) ? q.duration_ms : 0; }));
		cmax = scaleFor(runs.map(changesOf), true);

		root = svg('svg', {
			width: W, height: H, viewBox: '0 0 ' + W + ' ' + H,
			role: 'img', 'aria-labelledby': uid + '-title', 'aria-describedby': uid + '-desc',
			focusable: 'false'
		});
		title = svg('title', { id: uid + '-title' }, 'Recent sync runs: duration and changes per run');
		t0 = parseTime(runs[0].started_at);
		t1 = parseTime(runs[n - 1].started_at);
		desc = svg('desc', { id: uid + '-desc' },
		    plural(n, 'run', 'runs') +
		    (isFinite(t0) && isFinite(t1) ? ' from ' + fmtAbs(t0) + ' to ' + fmtAbs(t1) : '') +
		    ', oldest first. Longest run ' + fmtMs(maxDur) +
		    '; most changes in one run ' + int(maxChg) + '. ' +
		    (failed.length ? plural(failed.length, 'run', 'runs') + ' failed: ' +
		        failed.map(function (f) { return '#' + f.id; }).join(', ') + '.' : 'No failed runs.'));
		root.appendChild(title);
		root.appendChild(desc);

		/* Grid lines and axis labels for both panels. */
		function panel(top, h, max, fmt, label) {
			var k, yy;
			/* Left of the plot, so a cut bar or a cross cannot cover it. */
			root.appendChild(svg('text', { x: 0, y: top - 14, 'class': 'panel-label' }, label));
			for (k = 0; k <= 2; k++) {
				yy = top + h - (h * k) / 2;
				root.appendChild(svg('line', { x1: padL, x2: W - padR, y1: yy, y2: yy, 'class': 'grid-line' }));
				root.appendChild(svg('text', { x: padL - 6, y: yy + 4, 'text-anchor': 'end', 'class': 'axis-label' },
				    k ? fmt((max * k) / 2) : '0'));
			}
		}
		y0 = padT;
		y1 = padT + h1 + gap;
		panel(y0, h1, dmax, fmtMs, 'Duration');
		panel(y1, h2, cmax, function (v) { return int(v); }, 'Changes');

		for (i = 0; i < n; i++) {
			r = runs[i];
			cls = barClass(r.status);
			x = padL + slot * i + (slot - bw) / 2;
			g = svg('g', { 'class': 'run run-' + cls.slice(4), 'data-run': isNum(r.id) ? r.id : i });
			tip = '#' + (isNum(r.id) ? r.id : '?') + ' · ' +
			    (isFinite(parseTime(r.started_at)) ? fmtAbs(parseTime(r.started_at)) : 'unknown time') +
			    ' · ' + (r.status || 'unknown') + ' · ' + fmtMs(r.duration_ms) + ' · ' +
			    int(r.created) + ' created, ' + int(r.updated) + ' updated, ' +
			    int(r.deleted) + ' deleted, ' + int(r.failed) + ' failed';
			g.appendChild(svg('title', {}, tip));
			/* Hover target over the whole column. */
			g.appendChild(svg('rect', { x: padL + slot * i, y: y0, width: slot, height: y1 + h2 - y0, 'class': 'hit' }));
			hgt = barHeight(r.duration_ms, dmax, h1, 2);
			g.appendChild(svg('rect', { x: x, y: y0 + h1 - hgt, width: bw, height: hgt, rx: 2, 'class': 'bar ' + cls }));
			if (hgt > h1) {
				cutMark(g, x, y0 + 4, bw);
				cut++;
			}
			hgt = barHeight(changesOf(r), cmax, h2, changesOf(r) > 0 ? 2 : 1);
			g.appendChild(svg('rect', {
				x: x, y: y1 + h2 - hgt, width: bw, height: hgt, rx: 2,
				'class': 'bar bar-changes' + (r.status === 'failed' ? ' bar-failed' : '')
			}));
			if (hgt > h2) {
				cutMark(g, x, y1 + 4, bw);
				cut++;
			}
			if (r.status === 'failed') {
				/* A cross above the duration bar marks a failed run. */
				var cx = x + bw / 2, cy = y0 + h1 - barHeight(r.duration_ms, dmax, h1, 2) - 10;
				var sz = Math.min(5, Math.max(3, bw / 2));
				g.appendChild(svg('path', {
					d: 'M' + (cx - sz) + ' ' + (cy - sz) + 'L' + (cx + sz) + ' ' + (cy + sz) +
					    'M' + (cx + sz) + ' ' + (cy - sz) + 'L' + (cx - sz) + ' ' + (cy + sz),
					'class': 'fail-mark'
				}));
			}
			root.appendChild(g);
		}

		/* Time of the first and last run under the bottom panel. */
		if (isFinite(t0))
			root.appendChild(svg('text', { x: padL, y: H - 4, 'class': 'axis-label' }, fmtClock(t0)));
		if (isFinite(t1) && n > 1)
			root.appendChild(svg('text', {
				x: padL + slot * (n - 1) + slot / 2, y: H - 4, 'text-anchor': n >= 12 ? 'end' : 'middle',
				'class': 'axis-label'
			}, fmtClock(t1)));
		box.appendChild(root);
		$('#runs [data-f="cut-note"]').hidden = cut === 0;
	}

	/* Bar height in px; a value above the scale pokes 8 px over the top. */
	function barHeight(v, max, h, min) {
		if (!isNum(v) || v <= 0)
			return min;
		if (v > max)
			return h + 8;
		return Math.max(min, (v / max) * h);
	}

	/* Two slanted gaps across a bar: "cut, longer than the scale". */
	function cutMark(g, x, y, bw) {
		g.appendChild(svg('path', {
			d: 'M' + (x - 1) + ' ' + (y + 3) + 'L' + (x + bw + 1) + ' ' + (y - 1) +
			    'M' + (x - 1) + ' ' + (y + 8) + 'L' + (x + bw + 1) + ' ' + (y + 4),
			'class': 'cut-mark'
		}));
	}

	function renderRunsTable(d) {
		var runs = runsOf(d).slice().reverse();
		var body = $('#runs-body');
		var i, r, tr, t;
		clear(body);
		for (i = 0; i < runs.length; i++) {
			r = runs[i];
			tr = el('tr');
			if (r.status === 'failed')
				tr.className = 'row-failed';
			tr.appendChild(el('td', null, isNum(r.id) ? '#' + r.id : '–'));
			t = parseTime(r.started_at);
			tr.appendChild(el('td', null, isFinite(t) ? fmtAbs(t) : (r.started_at || '–')));
			tr.appendChild(el('td', null, fmtMs(r.duration_ms)));
			var td = el('td');
			td.appendChild(resultBadge(r.status));
			tr.appendChild(td);
			tr.appendChild(el('td', null, int(r.created)));
			tr.appendChild(el('td', null, int(r.updated)));
			tr.appendChild(el('td', null, int(r.deleted)));
			tr.appendChild(el('td', null, int(r.failed)));
			body.appendChild(tr);
		}
	}

	function renderRuns(d) {
		var sec = $('#runs');
		var n = runsOf(d).length;
		$('[data-f="none"]', sec).hidden = n > 0;
		$('[data-f="fig"]', sec).hidden = n === 0;
		$('[data-f="table-box"]', sec).hidden = n === 0;
		renderChart(d);
		renderRunsTable(d);
	}

	function render(d) {
		st.rel = [];
		renderOverall(d);
		renderService($('#svc-plane'), d.plane_api);
		renderService($('#svc-caldav'), d.caldav_server);
		renderSchedule(d);
		renderLastSync(d.last_sync);
		renderWebhooks(d);
		renderRuns(d);
		renderFooter(d);
	}

	/* ---------- freshness: fresh, stale, unreachable ---------- */

	function renderFreshness() {
		var now = Date.now();
		var main = $('#main');
		var fr = $('#freshness');
		var banner = $('#conn-banner');
		var conn, msg = '', i;

		for (i = 0; i < st.rel.length; i++)
			st.rel[i].el.textContent = fmtRel(st.rel[i].t, now);

		if (st.err && (!st.data || st.errAt >= st.okAt))
			conn = 'down';
		else if (!st.data)
			conn = 'loading';
		else if (now - st.okAt > STALE_MS)
			conn = 'stale';
		else
			conn = 'ok';

		main.setAttribute('data-conn', conn);
		main.classList.toggle('is-stale', conn === 'down' || conn === 'stale');
		$('#last-known').hidden = !(st.data && (conn === 'down' || conn === 'stale'));
		fr.classList.toggle('is-stale', conn === 'stale');
		fr.classList.toggle('is-down', conn === 'down');

		if (conn === 'ok') {
			setText(fr, 'Updated ' + fmtRel(st.okAt, now));
		} else if (conn === 'loading') {
			setText(fr, 'Loading…');
		} else if (conn === 'stale') {
			setText(fr, 'Stale: updated ' + fmtRel(st.okAt, now));
			/* No ticking numbers in the alert: it would be re-read each second. */
			msg = 'Stale data: no answer from the health endpoint since ' + fmtAbs(st.okAt) +
			    ' (more than ' + fmtSeconds(STALE_MS / 1000) + ' ago).';
		} else {
			setText(fr, 'Endpoint unreachable');
			msg = 'Endpoint unreachable: ' + st.err + (st.data ?
			    '. Showing the data received at ' + fmtAbs(st.okAt) + '.' :
			    '. No data received yet.');
		}
		if (msg) {
			if (banner.textContent !== msg)
				banner.textContent = msg;
			banner.hidden = false;
		} else {
			banner.hidden = true;
			banner.textContent = '';
		}

		if (conn === 'down' && !st.data) {
			$('#overall').className = 'overall state-unknown';
			$('#overall').setAttribute('data-status', 'unknown');
			setText($('#state-word'), 'Unknown');
			setText($('#state-summary'), 'The health endpoint cannot be reached, so the state of the sync is unknown.');
			document.title = 'Unreachable · CalPlaneBot status';
		}
	}

	/* ---------- fetching ---------- */

	function failed(msg) {
		st.err = msg;
		st.errAt = Date.now();
	}

	function fetchNow() {
		var ctl, to, btn = $('#refresh');
		if (st.inflight)
			return;
		st.inflight = true;
		clearTimeout(st.timer);
		st.timer = null;
		btn.disabled = true;
		$('#main').setAttribute('aria-busy', 'true');
		ctl = typeof AbortController === 'function' ? new AbortController() : null;
		to = setTimeout(function () { if (ctl) ctl.abort(); }, FETCH_TIMEOUT_MS);

		fetch(ENDPOINT, {
			method: 'GET',
			cache: 'no-store',
			credentials: 'same-origin',
			redirect: 'error',
			headers: { 'Accept': 'application/json' },
			signal: ctl ? ctl.signal : undefined
		}).then(function (res) {
			return res.text().then(function (body) {
				var d = null;
				try {
					d = JSON.parse(body);
				} catch (e) {
					d = null;
				}
				/*
				 * An unhealthy service may answer 503 with the full
				 * document: that is data, not an unreachable endpoint.
				 */
				if (d && typeof d === 'object' && !Array.isArray(d) && typeof d.status === 'string' &&
				    (res.ok || res.status === 503)) {
					st.data = d;
					st.okAt = Date.now();
					st.err = null;
					render(d);
				} else if (!res.ok) {
					failed('HTTP ' + res.status + (res.statusText ? ' ' + res.statusText : ''));
				} else {
					failed('the answer is not a health document');
				}
			});
		}).catch(function (e) {
			failed(e && e.name === 'AbortError' ? 'no answer within ' + (FETCH_TIMEOUT_MS / 1000) + ' s' :
			    'network error');
		}).then(function () {
			clearTimeout(to);
			st.inflight = false;
			btn.disabled = false;
			$('#main').setAttribute('aria-busy', 'false');
			renderFreshness();
			schedule();
		});
	}

	function schedule() {
		clearTimeout(st.timer);
		st.timer = null;
		if (document.hidden)
			return;		/* visibilitychange starts us again */
		st.timer = setTimeout(fetchNow, REFRESH_MS);
	}

	function onVisibility() {
		var last;
		if (document.hidden) {
			clearTimeout(st.timer);
			st.timer = null;
			return;
		}
		last = Math.max(st.okAt, st.errAt);
		if (!st.inflight && Date.now() - last >= REFRESH_MS)
			fetchNow();
		else if (!st.inflight)
			st.timer = setTimeout(fetchNow, Math.max(0, REFRESH_MS - (Date.now() - last)));
	}

	function onResize() {
		var box = $('#chart');
		if (st.data && box && Math.max(280, Math.floor(box.clientWidth)) !== st.chartWidth)
			renderChart(st.data);
	}

	function start() {
		var rz = null;
		setText($('#refresh-every'), fmtSeconds(REFRESH_MS / 1000));
		$('#refresh').addEventListener('click', fetchNow);
		document.addEventListener('visibilitychange', onVisibility);
		window.addEventListener('resize', function () {
			if (rz === null)
				rz = window.requestAnimationFrame(function () { rz = null; onResize(); });
		});
		setInterval(renderFreshness, 1000);
		fetchNow();
	}

	if (document.readyState === 'loading')
		document.addEventListener('DOMContentLoaded', start);
	else
		start();
}());
