// Package kefu sends WeChat customer-service messages (客服消息): the
// messages an Official Account, Service Account or Mini Program may send a
// user for a while after the user interacted with it, through
// POST /cgi-bin/message/custom/send.
//
// # Sending
//
// Build a Message with a constructor (NewText, NewImage, NewNews, ...),
// optionally as a customer-service account (Message.From), and send it with a
// Client:
//
//	client, err := kefu.New(appID, secret)
//	_, err = client.Send(ctx, kefu.NewText(openID, "您好"))
//
// Send validates the message first (Message.Validate): a message WeChat would
// reject for its shape never leaves the process. It encodes the body as WeChat
// wants it: compact UTF-8, no HTML escaping, so <a href="...&..."> links go out
// literally. MsgTypes lists the types; Message.Body returns the body a
// message's type names.
//
// # Tokens
//
// NewTokenSource fetches access tokens from the stable endpoint (or the
// classic one, WithClassicToken), caches them and refreshes them ahead of
// expiry, once for all goroutines. When WeChat rejects a token (40001, 40014,
// 42001) the Client drops it, takes a fresh one and retries once. The source
// is an ExpiringTokenSource: TokenWithExpiry returns the Token with its
// Expiry. StaticToken wraps a token you manage yourself.
//
// # Errors
//
// WeChat's error answers are *APIError values; match their group with
// errors.Is and the sentinels: ErrOutsideWindow (45015: the user must write
// first), ErrQuotaExceeded (45047), ErrRateLimited, ErrInvalidToken,
// ErrBadCredentials, ... A message that failed validation matches
// ErrInvalidMessage and was not sent; a call that could not get its access
// token sent nothing either and returns a *TokenError; a bad option given to
// NewClient or NewTokenSource matches ErrInvalidOption. A request whose answer was lost matches
// ErrDeliveryUnknown: the message may have been delivered. No error string or
// log line holds an access token or the app secret.
//
// # Retries
//
// A Client retries under a bounded RetryPolicy (DefaultRetryPolicy: 3
// attempts, full-jitter backoff from 200 ms to 5 s, errcode -1). It retries
// only what cannot have been delivered: listed errcodes, HTTP 429/503 pages,
// and connections that failed before the request was written. The send
// endpoint has no idempotency key, so an unknown outcome is not retried unless
// RetryPolicy.RetryUnknown says duplicates are acceptable.
//
// # Windows
//
// A message is allowed only inside a window a user action opened, with a
// quota: Action names the actions and Action.Rule gives what each allows
// (ActionUserMessage: 5 messages in 48 h, ...). Outside every window WeChat
// answers 45015 (ErrOutsideWindow), over the quota 45047 (ErrQuotaExceeded).
//
// A WindowTracker, fed with the actions users take (package callback's
// handler calls Observe for every message that opens a window), knows whom
// a send can reach: a Client given it (WithWindows) refuses locally, with a
// *WindowError and without a call, what WeChat would refuse, spends each
// user's quota once even across goroutines, and learns from WeChat's 45015
// and 45047. Its store is in memory, or shared between processes
// (redisstore.NewWindowStore).
//
// # Receiving
//
// Package callback receives what users send (signed, often encrypted
// callbacks), runs a handler once per message however often WeChat retries
// it, and answers with a passive reply, or "success" when the handler takes
// longer than WeChat waits.
//
// # Testing
//
// Package kefutest is a fake WeChat server with users, reply windows, quotas,
// tokens, a movable clock and scripted faults; its Server.Client returns a
// Client wired to it. Code that mocks HTTP can pass its client with
// WithHTTPClient (httpmock.ActivateNonDefault works).
package kefu
