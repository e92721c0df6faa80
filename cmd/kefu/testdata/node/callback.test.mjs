// A callback service written in Node (node:http, node:crypto, no packages),
// tested against `kefu fake --callback`: the fake acts as the user, POSTs
// the message as WeChat would (plain, or safe mode: AES-256-CBC with
// WeChat's 32-byte padding), and the service's passive reply shows in
// /kefutest/messages, marked passive.
//
//	go build -o /tmp/kefu ./cmd/kefu && KEFU_BIN=/tmp/kefu node --test cmd/kefu/testdata/node/callback.test.mjs
import { test } from 'node:test';
import { startFake } from './fake-process.mjs';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHash, createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const TOKEN = 'nodeToken1';
const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const APPID = 'wxnode0000000001';

// WeChat's signature: sha1 of the sorted parts, concatenated.
const signature = (...parts) => createHash('sha1').update(parts.sort().join('')).digest('hex');

// field reads one element of WeChat's flat XML, CDATA or text.
function field(xml, name) {
  const m = xml.match(new RegExp(`<${name}>(?:<!\\[CDATA\\[([\\s\\S]*?)\\]\\]>|([^<]*))</${name}>`));
  return m ? (m[1] ?? m[2]) : undefined;
}

const key = Buffer.from(AES_KEY + '=', 'base64');
const iv = key.subarray(0, 16);

// decrypt opens an Encrypt field: 16 random bytes, a 4-byte length, the
// message, the appid; PKCS#7 padded to 32 bytes.
function decrypt(b64) {
  const d = createDecipheriv('aes-256-cbc', key, iv);
  d.setAutoPadding(false);
  let buf = Buffer.concat([d.update(b64, 'base64'), d.final()]);
  buf = buf.subarray(0, buf.length - buf[buf.length - 1]);
  const len = buf.readUInt32BE(16);
  return { msg: buf.subarray(20, 20 + len).toString(), appid: buf.subarray(20 + len).toString() };
}

function encrypt(msg) {
  const body = Buffer.from(msg);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const plain = Buffer.concat([randomBytes(16), len, body, Buffer.from(APPID)]);
  const pad = 32 - (plain.length % 32);
  const c = createCipheriv('aes-256-cbc', key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(Buffer.concat([plain, Buffer.alloc(pad, pad)])), c.final()]).toString('base64');
}

// startService answers each text message with "node says: " and the text,
// checking WeChat's signatures first. It resolves to {url, seen, close}.
async function startService() {
  const seen = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const q = new URL(req.url, 'http://service').searchParams;
      const [ts, nonce] = [q.get('timestamp'), q.get('nonce')];
      if (q.get('signature') !== signature(TOKEN, ts, nonce)) {
        res.writeHead(403).end();
        return;
      }
      let plain = body;
      const encrypted = q.get('encrypt_type') === 'aes';
      if (encrypted) {
        const enc = field(body, 'Encrypt');
        assert.equal(q.get('msg_signature'), signature(TOKEN, ts, nonce, enc));
        const { msg, appid } = decrypt(enc);
        assert.equal(appid, APPID);
        plain = msg;
      }
      seen.push({ query: Object.fromEntries(q), plain });
      const reply = `<xml><ToUserName><![CDATA[${field(plain, 'FromUserName')}]]></ToUserName>` +
        `<FromUserName><![CDATA[${field(plain, 'ToUserName')}]]></FromUserName>` +
        `<CreateTime>${Math.floor(Date.now() / 1000)}</CreateTime><MsgType><![CDATA[text]]></MsgType>` +
        `<Content><![CDATA[node says: ${field(plain, 'Content')}]]></Content></xml>`;
      res.setHeader('content-type', 'text/xml');
      if (!encrypted) {
        res.end(reply);
        return;
      }
      const enc = encrypt(reply);
      const now = String(Math.floor(Date.now() / 1000));
      res.end(`<xml><Encrypt><![CDATA[${enc}]]></Encrypt><MsgSignature><![CDATA[${signature(TOKEN, now, nonce, enc)}]]></MsgSignature>` +
        `<TimeStamp>${now}</TimeStamp><Nonce><![CDATA[${nonce}]]></Nonce></xml>`);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}/wx`, seen, close: () => new Promise((r) => server.close(r)) };
}


async function call(base, method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `${method} ${path}: ${text}`);
  return JSON.parse(text);
}

for (const mode of ['plain', 'safe']) {
  test(`${mode} mode: the user says hello, the Node service's passive reply shows in messages`, async () => {
    const service = await startService();
    const env = { KEFU_TOKEN: TOKEN };
    if (mode === 'safe') env.KEFU_AES_KEY = AES_KEY;
    const fake = await startFake(['--callback', service.url, '--mode', mode, '--appid', APPID, '--secret', 'node-secret'], env);
    try {
      assert.deepEqual(fake.ready.callback.url, service.url);
      assert.equal(fake.ready.callback.mode, mode);
      assert.ok(!JSON.stringify(fake.ready).includes(TOKEN), 'the ready line has no Token');

      const said = await call(fake.ready.url, 'POST', '/kefutest/say', { openid: 'o-node', text: 'hello' });
      assert.equal(said.unavailable, false, said.problem);
      assert.equal(said.attempts.length, 1);
      assert.equal(said.reply.encrypted, mode === 'safe');
      assert.deepEqual(said.reply.message, { touser: 'o-node', msgtype: 'text', text: { content: 'node says: hello' } });

      assert.equal(service.seen.length, 1);
      const { query, plain } = service.seen[0];
      assert.equal(query.openid, 'o-node');
      assert.equal(field(plain, 'ToUserName'), fake.ready.callback.original_id);
      assert.equal(field(plain, 'MsgType'), 'text');
      assert.match(field(plain, 'MsgId'), /^\d+$/);

      const msgs = await call(fake.ready.url, 'GET', '/kefutest/messages?openid=o-node');
      assert.deepEqual(msgs, [{ touser: 'o-node', msgtype: 'text', text: { content: 'node says: hello' }, passive: true }]);
      const w = await call(fake.ready.url, 'GET', '/kefutest/window?openid=o-node&action=UserMessage');
      assert.equal(w.left, 5, 'a passive reply spends no quota');

      const conv = await call(fake.ready.url, 'GET', '/kefutest/conversation?openid=o-node');
      assert.deepEqual(conv.map((e) => e.kind), ['user', 'passive']);
    } finally {
      await fake.stop();
      await service.close();
    }
  });
}
