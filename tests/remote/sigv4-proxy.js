#!/usr/bin/env node
// Test-only S3 endpoint for ckptfs: s3rver (real S3 buckets, objects, ETags,
// LIST) behind a front that s3rver lacks. The front
//   - verifies AWS Signature V4 (Authorization header or presigned query) by
//     recomputing it with AWS's own signer (@aws-sdk/signature-v4) and the
//     test secret: 403 SignatureDoesNotMatch on a mismatch, 403 AccessDenied
//     for an unsigned request (s3rver itself accepts any V4 signature);
//   - gives GET/HEAD the S3 semantics s3rver gets wrong or lacks: single
//     byte ranges (s3rver reads "bytes=0-0" as the whole object and
//     "bytes=-N" as the first N+1 bytes), If-Match (412 PreconditionFailed)
//     and If-None-Match (304);
//   - counts requests and body bytes served, per path, for the tests.
// Everything listens on 127.0.0.1 only. Started by tests/remote/servers.py.
//
// usage: node sigv4-proxy.js '{"bucket":..,"accessKey":..,"secret":..,"region":..,"dir":..}'
//   prints one JSON line {"port","backend_port","control_port"} when ready;
//   exits when its standard input closes (its parent died or closed it).
// usage: node sigv4-proxy.js --check-vectors FILE
//   runs verify() over the Signature V4 test vectors in FILE (each one, and
//   each one with its signature altered) and prints the results as JSON.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const { SignatureV4 } = require('@aws-sdk/signature-v4');

const HOST = '127.0.0.1';
const MAX_SKEW_MS = 15 * 60 * 1000;
const EMPTY_SHA256 = crypto.createHash('sha256').digest('hex');

// The sha256 constructor the signer wants, on node's crypto.
class Sha256 {
	constructor(secret) {
		this.h = secret ? crypto.createHmac('sha256', Buffer.from(secret)) :
				  crypto.createHash('sha256');
	}
	update(data) {
		this.h.update(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
	}
	digest() {
		return Promise.resolve(new Uint8Array(this.h.digest()));
	}
}

class Denied {
	constructor(status, code, message) {
		this.status = status;
		this.code = code;
		this.message = message;
	}
}

const deny = (status, code, message) => {
	throw new Denied(status, code, message);
};

// S3's UriEncode: every byte but A-Z a-z 0-9 - _ . ~ percent-encoded.
const awsEscape = (s) =>
	encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

const decode = (s) => {
	try {
		return decodeURIComponent(s);
	} catch (e) {
		return deny(400, 'InvalidURI', 'Couldn\'t parse the specified URI.');
	}
};

// "k=v&k2" -> [[k, v], [k2, ""]], decoded ('+' stays '+', as S3 reads it)
const parseQuery = (raw) =>
	raw === '' ? [] :
		     raw.split('&').filter((p) => p !== '').map((p) => {
			     const eq = p.indexOf('=');
			     return eq < 0 ? [decode(p), ''] : [decode(p.slice(0, eq)), decode(p.slice(eq + 1))];
		     });

const queryObject = (pairs) => {
	const q = {};
	for (const [k, v] of pairs) {
		if (k in q)
			q[k] = [].concat(q[k], v);
		else
			q[k] = v;
	}
	return q;
};

const parseAmzDate = (s) => {
	const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
	if (!m)
		return null;
	return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
};

// "AKID/20150830/us-east-1/service/aws4_request" -> parts, checked against cfg
const parseScope = (credential, cfg, malformed) => {
	const parts = (credential || '').split('/');
	if (parts.length !== 5 || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1]))
		deny(400, malformed, 'The credential scope is malformed: ' + credential);
	const [accessKey, day, region, service] = parts;
	if (accessKey !== cfg.accessKey)
		deny(403, 'InvalidAccessKeyId',
		     'The AWS Access Key Id you provided does not exist in our records.');
	if (region !== cfg.region)
		deny(400, malformed,
		     `the region '${region}' is wrong; expecting '${cfg.region}'`);
	if (service !== cfg.service)
		deny(400, malformed, `the service '${service}' is wrong; expecting '${cfg.service}'`);
	return { day };
};

const signerFor = (cfg) => new SignatureV4({
	credentials: { accessKeyId: cfg.accessKey, secretAccessKey: cfg.secret },
	region: cfg.region,
	service: cfg.service,
	sha256: Sha256,
	// S3 signs the path as sent (encoded once); other services encode twice
	uriEscapePath: cfg.service !== 's3',
	applyChecksum: false,
});

const sameHex = (a, b) => typeof a === 'string' && typeof b === 'string' && a.length === b.length &&
			  crypto.timingSafeEqual(Buffer.from(a), Buffer.from(b));

const MISMATCH = 'The request signature we calculated does not match the signature you ' +
		 'provided. Check your key and signing method.';

// Checks one request's Signature V4 against cfg {accessKey, secret, region,
// service}. req: {method, url (path?query as sent), headers (lower-case
// names), bodySha256 (hex, or undefined when not known)}. Resolves on a good
// signature; throws Denied otherwise.
async function verify(req, cfg, now) {
	const qpos = req.url.indexOf('?');
	const rawPath = qpos < 0 ? req.url : req.url.slice(0, qpos);
	const pairs = parseQuery(qpos < 0 ? '' : req.url.slice(qpos + 1));
	const query = queryObject(pairs);
	const auth = req.headers.authorization;
	const presigned = 'X-Amz-Algorithm' in query;
	if (auth === undefined && !presigned)
		deny(403, 'AccessDenied', 'Access Denied');
	if (auth !== undefined && presigned)
		deny(400, 'InvalidArgument', 'Only one auth mechanism allowed');
	const s3 = cfg.service === 's3';
	// the path the signer takes: S3 canonicalises it to UriEncode(decoded)
	// per segment; other services get it decoded and double-encode it
	const path = s3 ? rawPath.split('/').map((seg) => awsEscape(decode(seg))).join('/') :
			  decode(rawPath);
	const signer = signerFor(cfg);
	const pick = (names) => {
		const h = {};
		for (const n of names) {
			if (req.headers[n] === undefined)
				deny(403, 'SignatureDoesNotMatch', MISMATCH);
			h[n] = String(req.headers[n]);
		}
		return h;
	};
	const checkNames = (names) => {
		if (names.length === 0 || names.some((n) => n !== n.toLowerCase() || n === ''))
			deny(400, 'AuthorizationHeaderMalformed', 'SignedHeaders is malformed');
		if (names.includes('date'))
			deny(400, 'InvalidRequest',
			     'sigv4-proxy: a signed Date header is not supported (sign x-amz-date)');
	};

	if (!presigned) {
		const m = /^AWS4-HMAC-SHA256 +Credential=([^, ]+), *SignedHeaders=([^, ]+), *Signature=([0-9a-f]{64})$/.exec(auth);
		if (!m)
			deny(400, 'AuthorizationHeaderMalformed',
			     'The authorization header is malformed: ' + auth.split(' ')[0]);
		const { day } = parseScope(m[1], cfg, 'AuthorizationHeaderMalformed');
		const names = m[2].split(';');
		checkNames(names);
		const when = parseAmzDate(req.headers['x-amz-date']);
		if (!when)
			deny(403, 'AccessDenied',
			     'AWS authentication requires a valid Date or x-amz-date header');
		if (req.headers['x-amz-date'].slice(0, 8) !== day)
			deny(403, 'SignatureDoesNotMatch', MISMATCH);
		if (Math.abs(now - when) > MAX_SKEW_MS)
			deny(403, 'RequestTimeTooSkewed',
			     'The difference between the request time and the current time is too large.');
		const sha = req.headers['x-amz-content-sha256'];
		if (s3 && sha === undefined)
			deny(400, 'InvalidRequest',
			     'Missing required header for this request: x-amz-content-sha256');
		if (sha !== undefined && sha.startsWith('STREAMING-'))
			deny(501, 'NotImplemented', 'sigv4-proxy: streaming payloads are not supported');
		if (sha !== undefined && sha !== 'UNSIGNED-PAYLOAD') {
			if (!/^[0-9a-f]{64}$/.test(sha))
				deny(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a hex SHA-256');
			if (req.bodySha256 !== undefined && sha !== req.bodySha256)
				deny(400, 'XAmzContentSHA256Mismatch',
				     'The provided \'x-amz-content-sha256\' header does not match what was computed.');
		}
		const headers = pick(names);
		const unsignable = new Set();
		if (sha !== undefined && !names.includes('x-amz-content-sha256')) {
			headers['x-amz-content-sha256'] = sha; // the payload hash, not signed
			unsignable.add('x-amz-content-sha256');
		}
		const signed = await signer.sign(
			{ method: req.method, protocol: 'http:', hostname: '', path, query, headers },
			{ signingDate: when, signableHeaders: new Set(names), unsignableHeaders: unsignable });
		const want = /Signature=([0-9a-f]{64})$/.exec(signed.headers.authorization)[1];
		const wantNames = /SignedHeaders=([^,]+),/.exec(signed.headers.authorization)[1];
		if (wantNames !== m[2] || !sameHex(want, m[3]))
			deny(403, 'SignatureDoesNotMatch', MISMATCH);
		return;
	}

	const get = (k) => (typeof query[k] === 'string' ? query[k] : undefined);
	if (get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256')
		deny(400, 'AuthorizationQueryParametersError', 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
	const { day } = parseScope(get('X-Amz-Credential'), cfg, 'AuthorizationQueryParametersError');
	const when = parseAmzDate(get('X-Amz-Date'));
	const expires = Number(get('X-Amz-Expires'));
	const names = (get('X-Amz-SignedHeaders') || '').split(';');
	const sig = get('X-Amz-Signature');
	if (!when || get('X-Amz-Date').slice(0, 8) !== day || !Number.isInteger(expires) ||
	    expires < 1 || expires > 604800 || !/^[0-9a-f]{64}$/.test(sig || ''))
		deny(400, 'AuthorizationQueryParametersError', 'Query-string authentication is malformed');
	checkNames(names);
	if (now > when.getTime() + expires * 1000)
		deny(403, 'AccessDenied', 'Request has expired');
	if (when.getTime() - now > MAX_SKEW_MS)
		deny(403, 'AccessDenied', 'Request is not valid yet');
	const rest = {};
	const stripped = new Set(['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires',
				  'X-Amz-SignedHeaders', 'X-Amz-Signature']);
	for (const [k, v] of Object.entries(query))
		if (!stripped.has(k))
			rest[k] = v;
	const headers = pick(names);
	const keep = new Set(names.filter((n) => n.startsWith('x-amz-')));
	const unsignable = new Set();
	if (s3) { // presigned S3 requests sign UNSIGNED-PAYLOAD
		headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
		keep.add('x-amz-content-sha256');
		if (!names.includes('x-amz-content-sha256'))
			unsignable.add('x-amz-content-sha256');
	}
	const signed = await signer.presign(
		{ method: req.method, protocol: 'http:', hostname: '', path, query: rest, headers },
		{ signingDate: when, expiresIn: expires, signableHeaders: new Set(names),
		  unsignableHeaders: unsignable, unhoistableHeaders: keep });
	if (signed.query['X-Amz-SignedHeaders'] !== names.join(';') ||
	    !sameHex(signed.query['X-Amz-Signature'], sig))
		deny(403, 'SignatureDoesNotMatch', MISMATCH);
}

const xmlEscape = (s) => String(s).replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

function sendError(res, method, status, code, message, stats, path) {
	const body = method === 'HEAD' ? '' :
		'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' + code + '</Code><Message>' +
		xmlEscape(message) + '</Message><RequestId>' + crypto.randomBytes(8).toString('hex') +
		'</RequestId></Error>';
	res.writeHead(status, { 'Content-Type': 'application/xml',
				'Content-Length': Buffer.byteLength(body) });
	res.end(body);
	stats.count(path, status, Buffer.byteLength(body));
}

class Stats {
	constructor() {
		this.reset();
	}
	reset() {
		this.requests = 0;
		this.bytes = 0;
		this.denied = 0;
		this.status = {};
		this.paths = {};
	}
	count(path, status, bytes) {
		this.requests++;
		this.bytes += bytes;
		if (status === 403)
			this.denied++;
		this.status[status] = (this.status[status] || 0) + 1;
		const p = this.paths[path] || (this.paths[path] = { requests: 0, bytes: 0 });
		p.requests++;
		p.bytes += bytes;
	}
	json() {
		return JSON.stringify({ requests: this.requests, bytes: this.bytes, denied: this.denied,
					status: this.status, paths: this.paths });
	}
}

// "bytes=a-b" | "bytes=a-" | "bytes=-n" -> {start, end, suffix}; else null
// (absent, several ranges or bad syntax: served whole, as S3 does)
function parseRange(h) {
	const m = /^bytes=(\d*)-(\d*)$/.exec((h || '').trim());
	if (!m || (m[1] === '' && m[2] === ''))
		return null;
	if (m[1] === '')
		return { suffix: Number(m[2]) };
	const r = { start: Number(m[1]), end: m[2] === '' ? Infinity : Number(m[2]) };
	return r.end < r.start ? null : r;
}

const etagList = (h) => h.split(',').map((t) => t.trim().replace(/^W\//, ''));

// The S3 conditions on GET/HEAD, from the object's current ETag; an error or
// null.
function precondition(headers, etag) {
	const ifMatch = headers['if-match'];
	if (ifMatch !== undefined && !etagList(ifMatch).some((t) => t === '*' || t === etag))
		return [412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold'];
	const noneMatch = headers['if-none-match'];
	if (noneMatch !== undefined && etagList(noneMatch).some((t) => t === '*' || t === etag))
		return [304, null, null];
	return null;
}

function upstream(backend, method, url, headers, body) {
	return new Promise((resolve, reject) => {
		const r = http.request({ host: HOST, port: backend, method, path: url, headers }, resolve);
		r.on('error', reject);
		r.end(body);
	});
}

function serve(cfg) {
	const stats = new Stats();
	const backendPort = () => cfg.backendPort;
	const server = http.createServer((req, res) => {
		const pathOnly = req.url.split('?')[0];
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => handle(req, res, Buffer.concat(chunks), pathOnly).catch((e) => {
			if (e instanceof Denied)
				return sendError(res, req.method, e.status, e.code, e.message, stats, pathOnly);
			if (!res.headersSent)
				return sendError(res, req.method, 500, 'InternalError', String(e), stats, pathOnly);
			res.destroy();
		}));
	});

	async function handle(req, res, body, pathOnly) {
		const headers = req.headers;
		await verify({ method: req.method, url: req.url, headers,
			       bodySha256: crypto.createHash('sha256').update(body).digest('hex') },
			     cfg, Date.now());
		// s3rver sees an anonymous request (it would look the key up itself)
		const fwd = { ...headers };
		delete fwd.authorization;
		const qpos = req.url.indexOf('?');
		let url = req.url;
		if (qpos >= 0) {
			const kept = req.url.slice(qpos + 1).split('&').filter((p) => !/^X-Amz-/i.test(p));
			url = req.url.slice(0, qpos) + (kept.length ? '?' + kept.join('&') : '');
		}
		const isObject = /^\/[^/]+\/.+/.test(pathOnly) && qpos < 0;
		if (!isObject || (req.method !== 'GET' && req.method !== 'HEAD'))
			return pipe(await upstream(backendPort(), req.method, url, fwd, body), res, pathOnly);

		for (const h of ['range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'])
			delete fwd[h];
		let range = req.method === 'GET' ? parseRange(headers.range) : null;
		if (range && range.suffix !== undefined) {
			const head = await upstream(backendPort(), 'HEAD', url, fwd);
			head.resume();
			if (head.statusCode !== 200)
				return pipe(head, res, pathOnly);
			const size = Number(head.headers['content-length']);
			if (range.suffix === 0)
				return sendError(res, req.method, 416, 'InvalidRange',
						 'The requested range is not satisfiable', stats, pathOnly);
			range = { start: Math.max(0, size - range.suffix), end: Infinity };
		}
		if (range && range.start > 0)
			fwd.range = `bytes=${range.start}-`;
		const up = await upstream(backendPort(), req.method, url, fwd);
		if (up.statusCode !== 200 && up.statusCode !== 206)
			return pipe(up, res, pathOnly);
		const cond = precondition(headers, up.headers.etag);
		if (cond) {
			up.destroy();
			if (cond[0] === 304) {
				res.writeHead(304, { ETag: up.headers.etag });
				res.end();
				return stats.count(pathOnly, 304, 0);
			}
			return sendError(res, req.method, cond[0], cond[1], cond[2], stats, pathOnly);
		}
		if (!range)
			return pipe(up, res, pathOnly);
		const total = up.statusCode === 206 ?
			Number(/\/(\d+)$/.exec(up.headers['content-range'] || '')[1]) :
			Number(up.headers['content-length']);
		const end = Math.min(range.end, total - 1);
		const length = end - range.start + 1;
		const out = { ...up.headers };
		delete out['transfer-encoding'];
		out['content-range'] = `bytes ${range.start}-${end}/${total}`;
		out['content-length'] = String(length);
		res.writeHead(206, out);
		let left = length;
		let sent = 0;
		up.on('data', (c) => {
			if (left <= 0)
				return;
			const piece = c.length > left ? c.subarray(0, left) : c;
			left -= piece.length;
			sent += piece.length;
			res.write(piece);
			if (left === 0) {
				res.end();
				up.destroy();
			}
		});
		up.on('end', () => {
			if (left > 0)
				res.destroy(); // short upstream: the client must see it
		});
		res.on('close', () => stats.count(pathOnly, 206, sent));
	}

	function pipe(up, res, pathOnly) {
		res.writeHead(up.statusCode, up.headers);
		let sent = 0;
		up.on('data', (c) => {
			sent += c.length;
			res.write(c);
		});
		up.on('end', () => res.end());
		up.on('error', () => res.destroy());
		res.on('close', () => stats.count(pathOnly, up.statusCode, sent));
	}

	return { server, stats };
}

function control(stats) {
	return http.createServer((req, res) => {
		if (req.url === '/reset' && req.method === 'POST')
			stats.reset();
		res.writeHead(200, { 'Content-Type': 'application/json' });
		res.end(stats.json());
	});
}

const listen = (server) => new Promise((resolve, reject) => {
	server.once('error', reject);
	server.listen(0, HOST, () => resolve(server.address().port));
});

async function main() {
	if (process.argv[2] === '--check-vectors') {
		const vectors = JSON.parse(fs.readFileSync(process.argv[3], 'utf8')).vectors;
		const results = [];
		for (const v of vectors) {
			const cfg = { accessKey: v.access_key, secret: v.secret, region: v.region, service: v.service };
			const now = Date.parse(v.now);
			const run = async (req) => {
				try {
					await verify(req, cfg, now);
					return 'ok';
				} catch (e) {
					if (e instanceof Denied)
						return e.code;
					throw e;
				}
			};
			const req = { method: v.method, url: v.url, headers: v.headers };
			// the same request with the signature's last hex digit changed
			const flip = (d) => (d === '0' ? '1' : '0');
			const auth = v.headers.authorization;
			const bad = auth !== undefined ?
				{ ...req, headers: { ...v.headers, authorization: auth.slice(0, -1) + flip(auth.slice(-1)) } } :
				{ ...req, url: req.url.replace(/(X-Amz-Signature=[0-9a-f]{63})([0-9a-f])/,
							       (all, a, d) => a + flip(d)) };
			const r = { name: v.name, good: await run(req), altered: await run(bad) };
			cfg.secret = v.secret + 'x';
			r.wrong_secret = await run(req);
			results.push(r);
		}
		process.stdout.write(JSON.stringify(results) + '\n');
		return;
	}

	const cfg = JSON.parse(process.argv[2]);
	cfg.service = 's3';
	const S3rver = require('s3rver');
	const backend = new S3rver({
		address: HOST, port: 0, silent: true, directory: cfg.dir,
		configureBuckets: [{ name: cfg.bucket }],
	});
	const addr = await backend.run();
	cfg.backendPort = addr.port;
	const { server, stats } = serve(cfg);
	const port = await listen(server);
	const controlPort = await listen(control(stats));
	process.stdout.write(JSON.stringify({ port, backend_port: cfg.backendPort,
					      control_port: controlPort }) + '\n');
	process.stdin.on('data', () => {});
	process.stdin.on('end', () => process.exit(0));
	process.stdin.on('error', () => process.exit(0));
}

main().catch((e) => {
	process.stderr.write('sigv4-proxy: ' + (e && e.stack || e) + '\n');
	process.exit(1);
});
