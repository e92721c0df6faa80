// A test of `kefu fake` as a team without Go would write it: Node's built-in
// test runner, fetch, no packages. It starts the binary named by KEFU_BIN
// and drives it over HTTP only: tokens, sends, the 45015/45047 path, every
// fault, call counts, the request log and reset.
//
//	go build -o /tmp/kefu ./cmd/kefu && KEFU_BIN=/tmp/kefu node --test cmd/kefu/testdata/node/fake.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const bin = process.env.KEFU_BIN;
let proc;
let fake; // {url, appid, secret}

before(async () => {
  assert.ok(bin, 'set KEFU_BIN to a kefu binary');
  proc = spawn(bin, ['fake', '--addr', '127.0.0.1:0', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout });
  fake = await new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`kefu fake exited with ${code} before it was ready`)));
    lines.once('line', (line) => resolve(JSON.parse(line)));
  });
});

after(async () => {
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  assert.equal(await exited, 0, 'kefu fake stops cleanly on SIGTERM');
});

async function call(method, path, body) {
  const res = await fetch(fake.url + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, text, json };
}

const admin = (method, path, body) => call(method, '/kefutest/' + path, body);

async function ok(method, path, body) {
  const r = await admin(method, path, body);
  assert.equal(r.status, 200, `${method} ${path}: ${r.text}`);
  return r.json;
}

async function token() {
  const r = await call('POST', '/cgi-bin/stable_token',
    { grant_type: 'client_credential', appid: fake.appid, secret: fake.secret, force_refresh: false });
  assert.equal(r.status, 200);
  assert.ok(r.json.access_token, r.text);
  return r.json.access_token;
}

async function send(tok, openid, text) {
  const r = await call('POST', '/cgi-bin/message/custom/send?access_token=' + encodeURIComponent(tok),
    { touser: openid, msgtype: 'text', text: { content: text } });
  return r;
}

test('a follower without a window gets 45015; a user who wrote gets 5 replies, then 45047', async () => {
  await ok('POST', 'reset');
  const tok = await token();
  await ok('POST', 'add_user', { openid: 'o-node' });
  assert.equal((await send(tok, 'o-node', 'too early')).json.errcode, 45015);
  await ok('POST', 'interact', { openid: 'o-node', action: 'UserMessage' });
  for (let i = 1; i <= 5; i++) {
    const r = await send(tok, 'o-node', `reply ${i}`);
    assert.equal(r.json.errcode, 0, r.text);
  }
  assert.equal((await send(tok, 'o-node', 'one too many')).json.errcode, 45047);
  const msgs = await ok('GET', 'messages?openid=o-node');
  assert.equal(msgs.length, 5);
  assert.deepEqual(msgs[0], { touser: 'o-node', msgtype: 'text', text: { content: 'reply 1' } });
});

test('every fault, the call counts and the request log', async () => {
  await ok('POST', 'reset');
  const tok = await token();
  await ok('POST', 'interact', { openid: 'o-pay', action: 'Payment' });
  const path = '/cgi-bin/message/custom/send';

  await ok('POST', 'fail_next', { path, n: 1, errcode: -1 });
  assert.equal((await send(tok, 'o-pay', 'busy')).json.errcode, -1);

  await ok('POST', 'status_next', { path, n: 1, status: 503 });
  const page = await send(tok, 'o-pay', 'page');
  assert.equal(page.status, 503);
  assert.equal(page.json, undefined, 'an HTML page, not JSON');

  await ok('POST', 'raw_next', { path, n: 1, status: 200, body: '{"errcode":0,' });
  assert.equal((await send(tok, 'o-pay', 'raw')).text, '{"errcode":0,');

  await ok('POST', 'delay_next', { path, n: 1, seconds: 0.05 });
  assert.equal((await send(tok, 'o-pay', 'late')).json.errcode, 0);

  await ok('POST', 'drop_next', { path, n: 1 });
  await assert.rejects(send(tok, 'o-pay', 'dropped'), 'the connection is cut after the message is accepted');

  const calls = await ok('GET', 'calls?path=' + encodeURIComponent(path));
  assert.equal(calls[path], 5);
  const msgs = await ok('GET', 'messages?openid=o-pay');
  assert.deepEqual(msgs.map((m) => m.text.content), ['late', 'dropped'], 'delayed and dropped sends were delivered');

  const log = await ok('GET', 'requests?path=' + encodeURIComponent(path));
  assert.equal(log.length, 5);
  for (const entry of log) {
    assert.ok(!entry.query.includes(tok), 'the token is redacted: ' + entry.query);
    assert.match(entry.query, /access_token=REDACTED/);
  }

  const bad = await admin('POST', 'fail_next', { path: '/nope', n: 1, errcode: -1 });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.errcode, 47001);
});

test('the clock moves on: tokens expire and windows close; reset forgets users and counts', async () => {
  await ok('POST', 'reset');
  const tok = await token();
  await ok('POST', 'interact', { openid: 'o-clock', action: 'UserMessage' });
  const before = await ok('GET', 'now');
  const adv = await ok('POST', 'advance', { seconds: 49 * 3600 });
  assert.ok(adv.now >= before.now + 49 * 3600);
  assert.equal((await send(tok, 'o-clock', 'still there?')).json.errcode, 42001, 'tokens live 7200 s');
  assert.equal((await send(await token(), 'o-clock', 'still there?')).json.errcode, 45015, 'the window closed after 48 h');
  await ok('POST', 'reset');
  assert.deepEqual(await ok('GET', 'messages?openid=o-clock'), []);
  const calls = await ok('GET', 'calls');
  assert.equal(calls['/cgi-bin/message/custom/send'], 0);
});
