// Package kefutest is a fake WeChat API server for testing code that uses
// kefu, in the manner of net/http/httptest: a real HTTP server on 127.0.0.1
// that answers like api.weixin.qq.com, with state you set up and inspect from
// the test.
//
//	srv := kefutest.NewServer()
//	defer srv.Close()
//	srv.Interact("o-user", kefutest.UserMessage) // the user wrote: 5 messages in 48 h
//	c := srv.Client()                            // a *kefu.Client wired to srv
//	_, err := c.Send(ctx, kefu.NewText("o-user", "hello"))
//	msgs := srv.Messages("o-user")               // what WeChat accepted
//
// What it reproduces:
//
//   - Access tokens (PathToken, PathStableToken): the classic endpoint issues
//     a new token per call and kills the previous one 5 minutes later; the
//     stable endpoint hands out the same token while it is valid and a new one
//     in its last 5 minutes, force_refresh kills the old token at once (at
//     most 20 a day, UTC+8, and at least 30 s apart). Tokens live 7200 s.
//     RotateTokens kills every token, as a secret reset does.
//   - Sending (PathSend) and typing (PathTyping) with WeChat's checks and
//     errcodes, in WeChat's order: token, body, message type and content,
//     media ids (AddMedia), user (AddUser, Unfollow) and the reply windows
//     that user actions open (Interact), with their quotas. Action is
//     kefu.Action and its windows are kefu's rules (Action.Rule): one
//     window per action, a send spending from the open one that closes
//     first.
//   - Bodies that escape <, > or & as \u003c, \u003e, \u0026 are refused with
//     40033, like WeChat (WithEscapeCheck turns that off).
//   - Media uploads (PathMediaUpload, PathUploadImg, PathAccountAvatar) with
//     WeChat's kinds, file types and sizes; an uploaded media id is accepted
//     by the send endpoint for 3 days of server time. Uploaded shows what
//     arrived (size, SHA-256, filename).
//   - Customer-service management: accounts (PathAccountAdd ... PathAccounts;
//     set up with AddAccount, AcceptInvite, SetOnline), sessions and the
//     waiting queue (PathSessionCreate ... PathWaitCases; AddWaiting,
//     SessionOf) and the message records (PathMsgRecords) of every message
//     the send endpoint accepted (AddRecord adds others), paged by msgid and
//     at most 24 hours a query.
//   - Every error's errmsg carries a " rid: xxxxxxxx-xxxxxxxx-xxxxxxxx" suffix.
//
// The server has its own clock (Now, Advance, WithFrozenClock): windows, token
// expiry, typing and force-refresh limits follow it, while clients keep real
// time. Advancing past a token's expiry therefore makes the next call meet
// 42001, as a client that cached a token would in production. The clock
// never goes back: Advance stops adding once it is about 292 years ahead.
//
// Faults are scripted per endpoint path for the next n calls: FailNext
// (an errcode), DropNext (act, then cut the connection: delivery unknown),
// StatusNext (an HTML error page), RawNext (any bytes) and DelayNext (act,
// then answer late). InjectRandom adds seeded random faults to a share of
// the calls, for load tests. Calls and Messages record what arrived.
//
// With WithCallback the server also acts as the users: Say, PushImage,
// PushFollow, PushClick... (and Push for any callback.Message) POST what a
// user sent or did to a service's callback URL exactly as WeChat does, in
// plain, compatible or safe mode, with WeChat's signatures, its 5-second wait
// (WithCallbackTimeout) and three tries. The action opens its window first;
// the service's passive reply is checked as WeChat checks it and shown to
// the user (Messages, Conversation), spending no quota; a PushResult tells
// the test every attempt and whether the user saw "该公众号暂时无法提供服务".
//
// Reset puts the server back in a new server's state (but its credentials
// and clock), for a test that reuses one server.
//
// WithListener serves on a listener of your own (a fixed address), and
// WithAdminAPI adds HTTP endpoints under /kefutest/ for tests written in
// other languages, one for each method above (the PathAdmin constants):
// users and windows (interact, add_user, unfollow, window, typing,
// messages), the clock (advance, now), tokens (rotate_tokens, tokens),
// faults (fail_next, drop_next, status_next, delay_next, raw_next), calls
// and a log of the latest 1000 requests with credentials redacted
// (requests), media (add_media, uploads), accounts and sessions
// (add_account, set_online, accept_invite, add_waiting, session,
// add_record), pushes (say, push, conversation) and reset. The kefu
// command's "kefu fake" runs such a server as a standalone process.
//
// WithInbox serves a web page at "/" for people: every user's windows and
// conversation, rendered like a chat and updated live, with buttons that
// act as the user, move the clock and rotate tokens. kefu fake serves it by
// default.
//
// The server keeps what the calls it carries out create, for the test to
// inspect: tokens issued, messages and records accepted, uploads, users and
// their windows; it grows with them as WeChat's state would. Requests it
// refuses keep nothing (but a known user's conversation keeps the latest 100
// messages the send endpoint refused): a made-up path is not even counted by Calls, and a
// bad token, bad credentials or an unknown user leave at most the count of
// one of its own paths. So a flood of garbage, say at a "kefu fake" process,
// is held in bounded memory. The admin API takes ids of at most 128 bytes
// and queues at most 1000 faults a path; its request log keeps the latest
// 1000 requests to the WeChat paths, each cut to a bounded size, and none
// to other paths.
//
// A Server has no global state and needs no *testing.T; it is safe for
// concurrent use, so parallel tests may each run their own.
package kefutest
