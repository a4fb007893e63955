/*
 * cdp.js - drive Debian's headless Chromium over the DevTools protocol with
 * Node's built-ins only: --remote-debugging-pipe speaks CDP as
 * NUL-terminated JSON on file descriptors 3 (to Chromium) and 4 (from it),
 * so no WebSocket client and no npm package is needed.
 *
 *   const b = await launch({ userDataDir, env, extraArgs, log })
 *   const page = await b.newPage()          // a flat session on a new tab
 *   await page.send('Page.navigate', { url })
 *   page.on('Network.requestWillBeSent', fn)
 *   await page.eval('document.title')
 *   await b.close()                         // always: kills Chromium
 */
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

class Connection {
	constructor(proc) {
		this.proc = proc;
		this.out = proc.stdio[3];
		this.in = proc.stdio[4];
		this.nextId = 1;
		this.pending = new Map();
		this.handlers = [];	/* {sessionId, method, fn} */
		this.closed = false;
		let buf = Buffer.alloc(0);
		this.in.on('data', (chunk) => {
			buf = Buffer.concat([buf, chunk]);
			let nul;
			while ((nul = buf.indexOf(0)) >= 0) {
				const text = buf.subarray(0, nul).toString('utf8');
				buf = buf.subarray(nul + 1);
				let msg;
				try {
					msg = JSON.parse(text);
				} catch (e) {
					continue;
				}
				this.dispatch(msg);
			}
		});
		this.in.on('error', () => {});
		this.out.on('error', () => {});
		proc.on('exit', () => {
			this.closed = true;
			for (const p of this.pending.values())
				p.reject(new Error('chromium exited during ' + p.method));
			this.pending.clear();
		});
	}

	dispatch(msg) {
		if (msg.id !== undefined) {
			const p = this.pending.get(msg.id);
			if (!p)
				return;
			this.pending.delete(msg.id);
			clearTimeout(p.timer);
			if (msg.error)
				p.reject(new Error(p.method + ': ' + msg.error.message));
			else
				p.resolve(msg.result);
			return;
		}
		for (const h of this.handlers.slice())
			if (h.method === msg.method && h.sessionId === msg.sessionId)
				h.fn(msg.params || {});
	}

	send(method, params, sessionId, timeoutMs) {
		if (this.closed)
			return Promise.reject(new Error('chromium is gone (' + method + ')'));
		const id = this.nextId++;
		const msg = { id, method, params: params || {} };
		if (sessionId)
			msg.sessionId = sessionId;
		return new Promise((resolve, reject) => {
			const timer = setTimeout(() => {
				this.pending.delete(id);
				reject(new Error(method + ': no answer in ' + (timeoutMs || 30000) + ' ms'));
			}, timeoutMs || 30000);
			this.pending.set(id, { resolve, reject, method, timer });
			this.out.write(JSON.stringify(msg) + '\0');
		});
	}

	on(method, fn, sessionId) {
		const h = { method, fn, sessionId };
		this.handlers.push(h);
		return () => {
			const i = this.handlers.indexOf(h);
			if (i >= 0)
				this.handlers.splice(i, 1);
		};
	}
}

class Page {
	constructor(conn, targetId, sessionId) {
		this.conn = conn;
		this.targetId = targetId;
		this.sessionId = sessionId;
	}

	send(method, params, timeoutMs) {
		return this.conn.send(method, params, this.sessionId, timeoutMs);
	}

	on(method, fn) {
		return this.conn.on(method, fn, this.sessionId);
	}

	/* Evaluate an expression in the page; returns its value (JSON-able). */
	async eval(expression) {
		const r = await this.send('Runtime.evaluate', {
			expression, returnByValue: true, awaitPromise: true
		});
		if (r.exceptionDetails) {
			const d = r.exceptionDetails;
			throw new Error('page eval: ' + ((d.exception && d.exception.description) || d.text));
		}
		return r.result.value;
	}

	/* Poll a page expression until it is truthy; returns its last value. */
	async waitFor(expression, timeoutMs, what) {
		const until = Date.now() + (timeoutMs || 10000);
		let v;
		for (;;) {
			try {
				v = await this.eval(expression);
			} catch (e) {
				v = undefined;
			}
			if (v)
				return v;
			if (Date.now() > until)
				throw new Error('timed out waiting for ' + (what || expression));
			await sleep(100);
		}
	}

	async navigate(url) {
		const loaded = new Promise((resolve) => {
			const off = this.on('Page.loadEventFired', () => { off(); resolve(); });
		});
		const r = await this.send('Page.navigate', { url });
		if (r.errorText)
			throw new Error('navigate ' + url + ': ' + r.errorText);
		await Promise.race([loaded, sleep(15000)]);
	}

	async viewport(width, height, mobile) {
		await this.send('Emulation.setDeviceMetricsOverride', {
			width, height, deviceScaleFactor: 1, mobile: !!mobile
		});
	}

	/* PNG of the viewport, or of the whole page when fullPage. */
	async screenshot(file, fullPage) {
		const params = { format: 'png' };
		if (fullPage) {
			const m = await this.send('Page.getLayoutMetrics');
			const size = m.cssContentSize || m.contentSize;
			params.captureBeyondViewport = true;
			params.clip = { x: 0, y: 0, width: Math.ceil(size.width), height: Math.ceil(size.height), scale: 1 };
		}
		const r = await this.send('Page.captureScreenshot', params);
		fs.writeFileSync(file, Buffer.from(r.data, 'base64'));
	}

	/* Press a key (Tab, Enter, ...) as a user would. */
	async key(key) {
		const codes = { Tab: 9, Enter: 13, ' ': 32 };
		const base = {
			key, code: key === ' ' ? 'Space' : key,
			windowsVirtualKeyCode: codes[key], nativeVirtualKeyCode: codes[key]
		};
		await this.send('Input.dispatchKeyEvent', Object.assign({ type: 'rawKeyDown' }, base));
		if (key === 'Enter')
			await this.send('Input.dispatchKeyEvent', Object.assign({ type: 'char', text: '\r' }, base));
		await this.send('Input.dispatchKeyEvent', Object.assign({ type: 'keyUp' }, base));
	}
}

/* Chromium's helpers (renderer, zygote) share the group we started it in. */
function killGroup(pid) {
	if (!pid)
		return;
	try {
		process.kill(-pid, 'SIGKILL');
	} catch (e) { /* already gone */ }
}

function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

/*
 * Start Chromium.  opts: userDataDir (fresh, required), env, extraArgs,
 * log (a file for Chromium's stderr).
 */
async function launch(opts) {
	const args = [
		'--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
		'--no-first-run', '--disable-background-networking',
		'--disable-component-update', '--disable-sync',
		'--disable-default-apps', '--disable-extensions', '--mute-audio',
		'--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication',
		'--user-data-dir=' + opts.userDataDir,
		'--remote-debugging-pipe',
		'--window-size=1280,900', '--hide-scrollbars',
		...(opts.extraArgs || []),
		'about:blank'
	];
	const logFd = fs.openSync(opts.log || '/dev/null', 'a');
	const proc = spawn(CHROMIUM, args, {
		stdio: ['ignore', logFd, logFd, 'pipe', 'pipe'],
		env: Object.assign({}, process.env, opts.env || {}),
		detached: true		/* its own process group: close() ends all of it */
	});
	fs.closeSync(logFd);
	const conn = new Connection(proc);
	const exited = new Promise((r) => proc.on('exit', r));
	const spawnErr = new Promise((_, reject) => proc.on('error', reject));

	await Promise.race([conn.send('Browser.getVersion', {}, null, 30000), spawnErr]);

	return {
		proc,
		conn,
		async newPage() {
			const { targetId } = await conn.send('Target.createTarget', { url: 'about:blank' });
			const { sessionId } = await conn.send('Target.attachToTarget', { targetId, flatten: true });
			return new Page(conn, targetId, sessionId);
		},
		async close() {
			if (proc.exitCode === null && proc.signalCode === null) {
				try {
					await Promise.race([conn.send('Browser.close', {}, null, 3000), sleep(3000)]);
				} catch (e) { /* killed below */ }
				await Promise.race([exited, sleep(3000)]);
			}
			killGroup(proc.pid);
			await Promise.race([exited, sleep(3000)]);
		},
		killNow() {
			killGroup(proc.pid);
		}
	};
}

module.exports = { launch, sleep, CHROMIUM };
