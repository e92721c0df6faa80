// The kefu fake's inbox: refreshes the server-rendered fragments when the
// events stream says something changed, and sends what the person does as
// JSON. No data from the server is ever turned into markup here: the
// fragments come escaped by html/template, and messages are set as text.
'use strict';

(function () {
  const base = '/kefutest/inbox/';
  const $ = (id) => document.getElementById(id);
  const conv = $('conversation');
  let openid = conv.dataset.openid || '';
  let busy = false;
  let again = false;

  function say(text, bad) {
    const s = $('status');
    s.textContent = text;
    s.classList.toggle('bad', !!bad);
  }

  async function text(path) {
    const r = await fetch(path, { cache: 'no-store' });
    if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
    return r.text();
  }

  // refresh fetches the user list and the conversation; changes that arrive
  // meanwhile make it run once more, not once each.
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      do {
        again = false;
        const q = openid ? '?openid=' + encodeURIComponent(openid) : '';
        const [users, talk] = await Promise.all([
          text(base + 'users' + q),
          openid ? text(base + 'conversation' + q) : Promise.resolve(null),
        ]);
        $('users').innerHTML = users; // html/template's output: escaped
        if (talk !== null) {
          const atEnd = conv.scrollTop + conv.clientHeight >= conv.scrollHeight - 40;
          conv.innerHTML = talk; // html/template's output: escaped
          conv.dataset.openid = openid;
          if (atEnd) conv.scrollTop = conv.scrollHeight;
        }
      } while (again);
    } catch (e) {
      say('refresh failed: ' + e.message, true);
    } finally {
      busy = false;
    }
  }

  async function post(path, body) {
    const r = await fetch(base + path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body || {}),
    });
    let answer = {};
    try { answer = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok || answer.errcode) throw new Error(answer.errmsg || 'HTTP ' + r.status);
    return answer;
  }

  // act does what the person asked, says how it went, and refreshes.
  async function act(what, path, body) {
    try {
      const answer = await post(path, body);
      if (answer.unavailable) {
        say(what + ': the user saw "' + answer.error_shown + '" (' + answer.problem + ')', true);
      } else if (answer.pushed === false) {
        say(what + ': recorded (no callback URL: no service heard of it)');
      } else {
        say(what + ': done');
      }
    } catch (e) {
      say(what + ': ' + e.message, true);
    }
    refresh();
  }

  function select(id) {
    openid = id;
    history.replaceState(null, '', '/?openid=' + encodeURIComponent(id));
    conv.scrollTop = conv.scrollHeight;
    refresh();
  }

  function needUser() {
    if (!openid) say('pick a user first', true);
    return !!openid;
  }

  document.addEventListener('click', (ev) => {
    const link = ev.target.closest('a[data-openid]');
    if (link) {
      ev.preventDefault();
      select(link.dataset.openid);
      return;
    }
    const b = ev.target.closest('button');
    if (!b || b.type === 'submit') return;
    if (b.dataset.advance) {
      act('clock +' + b.textContent.trim().slice(1), 'advance', { seconds: Number(b.dataset.advance) });
    } else if (b.dataset.rotate) {
      act('rotate tokens', 'rotate_tokens');
    } else if (b.dataset.act === 'menu') {
      act('tap "' + b.dataset.text + '"', 'act',
        { openid: b.dataset.openid, action: 'menu', menu_id: b.dataset.menuid, text: b.dataset.text });
    } else if (b.dataset.act && needUser()) {
      act(b.dataset.act, 'act', { openid: openid, action: b.dataset.act });
    }
  });

  $('composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $('text');
    if (!needUser() || input.value === '') return;
    const body = { openid: openid, action: 'say', text: input.value };
    input.value = '';
    act('send', 'act', body);
  });

  $('add-user').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const input = $('new-openid');
    const id = input.value.trim();
    if (id === '') return;
    try {
      await post('add_user', { openid: id });
      input.value = '';
      say('added ' + id);
      select(id);
    } catch (e) {
      say('add user: ' + e.message, true);
    }
  });

  const live = $('live');
  const events = new EventSource(base + 'events');
  events.addEventListener('change', refresh);
  events.addEventListener('open', () => { live.textContent = 'live'; live.classList.remove('bad'); });
  events.addEventListener('error', () => { live.textContent = 'disconnected'; live.classList.add('bad'); });
  conv.scrollTop = conv.scrollHeight;
})();
