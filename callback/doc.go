// Package callback receives what users send to a WeChat account: the
// signed, often encrypted HTTP callbacks (消息推送) of Official Accounts (XML)
// and Mini Programs (XML or JSON), and answers them.
//
// A Handler (NewHandler) is an http.Handler for the callback URL. It answers
// WeChat's URL check (GET) only when the signature matches, and for each
// POST checks, in order: the query's signature (403), the body's size (413),
// the envelope (400), msg_signature over the encrypted body (403), the
// decryption and the appid trailer (400, 403), then parses the message (400)
// and calls the HandlerFunc once per message, however often WeChat retries
// it. The HandlerFunc's Reply is the passive reply, encrypted exactly when
// the request was; a nil Reply answers "success".
//
// # Modes and keys
//
// With Config.EncodingAESKey empty the handler accepts plain mode only. With
// a key it accepts compatible and safe modes (AES-256-CBC, WeChat's 32-byte
// PKCS#7 padding, the appid trailer checked) and, unless RequireEncryption
// is set, plain ones too. PreviousEncodingAESKey is tried when the current
// key fails, while WeChat switches keys. In plain mode the signature covers
// the query only, not the body: a replayed query with another body cannot be
// told from WeChat's own request unless Config.MaxAge is set (it remembers
// each timestamp and nonce with its body's digest).
//
// # Answer at once, reply later
//
// WeChat waits 5 seconds for an answer, then retries, and after its third
// try shows the user "该公众号暂时无法提供服务". The handler's context ends
// Config.Budget (4.5 s) after the request arrived; if the HandlerFunc has
// not returned by then, the handler answers "success" and logs it. Work that
// may take longer belongs after the answer: return nil at once and send the
// reply later with kefu's Client.Send (a user message opens a window of 5
// messages in 48 hours). With Config.LateReplies set, a reply returned after
// the budget is sent that way automatically. Handler.Close waits for
// handlers still running.
//
// # Duplicates
//
// WeChat retries a message it got no answer for within 5 s, three times in
// all. Retries share a key (Message.DedupKey). In one process a retry that
// arrives while the first run is going waits for it, and one that arrives
// later (within Config.DedupTTL, 30 s) gets the same reply; across instances
// a Deduper (redisstore.NewDeduper) lets one instance run the handler and
// the others answer "success". A HandlerFunc that returns an error answers
// HTTP 500 and frees the key, so a retry runs it again.
//
// Crypter, Signature and ParseMessage are the building blocks, exported for
// services that receive callbacks another way; kefutest uses them to push
// callbacks to a service under test.
package callback
