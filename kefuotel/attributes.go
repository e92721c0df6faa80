package kefuotel

import "go.opentelemetry.io/otel/attribute"

// The attributes kefuotel adds to the semantic conventions' (see the
// package doc for where each goes).
const (
	AttrErrCode          attribute.Key = "wechat.errcode"                  // WeChat's errcode, when not 0
	AttrRequestID        attribute.Key = "wechat.rid"                      // the rid WeChat gave with an errcode
	AttrMsgType          attribute.Key = "wechat.msgtype"                  // a send's or a callback's msgtype
	AttrEvent            attribute.Key = "wechat.event"                    // a callback event's Event
	AttrOpenID           attribute.Key = "wechat.openid"                   // the user, on spans only, with WithOpenID
	AttrResult           attribute.Key = "kefu.result"                     // a call's kefu.ResultClass (an attempt's on its metrics); ok or error for a token fetch
	AttrRetryCount       attribute.Key = "kefu.retry.count"                // attempts after a call's first
	AttrDeliveryUnknown  attribute.Key = "kefu.delivery_unknown"           // the call may have been delivered (kefu.ErrDeliveryUnknown)
	AttrRetry            attribute.Key = "kefu.retry"                      // another attempt follows this one
	AttrBackoff          attribute.Key = "kefu.retry.backoff"              // the wait before it, in seconds
	AttrTokenReason      attribute.Key = "kefu.token.reason"               // why a token was fetched: cold, expiring, rejected, force
	AttrBulkStatus       attribute.Key = "kefu.bulk.status"                // a SendAll result's kefu.SendStatus
	AttrOutcome          attribute.Key = "kefu.callback.outcome"           // a callback's callback.Outcome
	AttrDuplicate        attribute.Key = "kefu.callback.duplicate"         // a retry of a message already handled or in flight
	AttrSignatureFailure attribute.Key = "kefu.callback.signature_failure" // signature or msg_signature did not match
	AttrEncrypted        attribute.Key = "kefu.callback.encrypted"         // the callback came encrypted (safe mode)
	AttrHandlerDuration  attribute.Key = "kefu.callback.handler.duration"  // how long the HandlerFunc ran, in seconds
)

// The names of the spans and span events (the attempts' spans are named
// "METHOD /path", the calls' CallSpanPrefix and the path).
const (
	CallSpanPrefix     = "kefu "
	CallbackSpan       = "kefu callback"
	EventTokenRefresh  = "kefu.token.refresh"
	EventWindowRefused = "kefu.window.refused"
)
