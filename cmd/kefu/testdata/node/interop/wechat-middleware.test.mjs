// kefu fake --callback against a callback server written by others: the npm
// wechat middleware (node-webot/wechat), in plain, compatible and safe
// modes. The fake pushes a text and a follow as WeChat would; the
// middleware must verify and decrypt them, and its replies (encrypted with
// a nonce of its own) must reach the user as passive replies.
//
//	(cd cmd/kefu/testdata/node/interop && npm ci)
//	go build -o /tmp/kefu ./cmd/kefu && KEFU_BIN=/tmp/kefu node --test cmd/kefu/testdata/node/interop/
import { test } from 'node:test';
import { startFake } from '../fake-process.mjs';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const wechat = require('wechat');

const TOKEN = 'interopToken1';
const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const APPID = 'wxinterop0000001';

// startService serves the middleware on a free port: text is echoed, a
// follow gets a news card.
async function startService() {
  const mw = wechat({ token: TOKEN, appid: APPID, encodingAESKey: AES_KEY, checkSignature: true }, (req, res) => {
    const m = req.weixin;
    if (m.MsgType === 'text') return res.reply('npm says: ' + m.Content);
    if (m.MsgType === 'event' && m.Event === 'subscribe') {
      return res.reply([{ title: 'Welcome', description: 'hi', picurl: 'http://example.com/p.png', url: 'http://example.com/' }]);
    }
    return res.reply('');
  });
  const server = createServer((req, res) => {
    req.query = Object.fromEntries(new URL(req.url, 'http://x').searchParams);
    mw(req, res, () => { res.statusCode = 404; res.end(); });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/wx`, close: () => new Promise((r) => server.close(r)) };
}


async function post(base, path, body) {
  const res = await fetch(base + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 200, `${path}: HTTP ${res.status}`);
  return res.json();
}

for (const mode of ['plain', 'compatible', 'safe']) {
  test(`the npm wechat middleware in ${mode} mode`, async () => {
    const svc = await startService();
    const fake = await startFake(['--appid', APPID, '--secret', 'interop-secret', '--callback', svc.url, '--mode', mode],
      { KEFU_TOKEN: TOKEN, KEFU_AES_KEY: AES_KEY });
    try {
      const base = fake.ready.url;
      const said = await post(base, '/kefutest/say', { openid: 'o-npm', text: 'hello' });
      assert.equal(said.unavailable, false, said.problem);
      assert.equal(said.attempts.length, 1);
      assert.equal(said.reply.encrypted, mode !== 'plain');
      assert.equal(said.reply.message.text.content, 'npm says: hello');

      const followed = await post(base, '/kefutest/push', { openid: 'o-new', MsgType: 'event', Event: 'subscribe' });
      assert.equal(followed.unavailable, false, followed.problem);
      assert.equal(followed.reply.message.news.articles[0].title, 'Welcome');

      const res = await fetch(`${base}/kefutest/messages?openid=o-npm`);
      const msgs = await res.json();
      assert.equal(msgs.length, 1);
      assert.equal(msgs[0].passive, true);
    } finally {
      await fake.stop();
      await svc.close();
    }
  });
}
