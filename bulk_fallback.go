package kefu

import (
	"context"
	"errors"
)

// TemplateFallback returns a Fallback that sends each recipient the
// template message build makes from its customer-service message (ToUser
// is filled in when empty). Its ClientMsgID is derived from runID and the
// item's key, the same in every resumed run of one broadcast: WeChat sends
// one message per user and client_msg_id within 10 minutes
// (TemplateDedupWindow), so a lost answer is retried safely within that
// time (SendTemplate retries it), and SendAll never resends a fallback
// whose unknown outcome is older. A build that returns nil skips the
// recipient. A 45009 (the template quota of the day) stops the fallback,
// not the run.
func TemplateFallback(runID string, build func(m *Message) *TemplateMessage) Fallback {
	return func(ctx context.Context, it FallbackItem) FallbackResult {
		tm := build(it.Message)
		if tm == nil {
			return FallbackResult{Status: StatusSkipped}
		}
		cp := *tm
		if cp.ToUser == "" {
			cp.ToUser = it.Message.ToUser
		}
		cp.ClientMsgID = clientMsgID(runID, it.Key)
		resp, err := it.Client.SendTemplate(ctx, &cp)
		switch {
		case err == nil:
			return FallbackResult{Status: StatusSent, MsgID: resp.MsgID}
		case errors.Is(err, ErrDeliveryUnknown):
			return FallbackResult{Status: StatusUnknown, Err: err}
		case errors.Is(err, ErrDailyQuota):
			return FallbackResult{Status: StatusNotAttempted, Err: err, Stop: true}
		case apiCode(err) != 0, errors.Is(err, ErrInvalidMessage):
			return FallbackResult{Status: StatusFailed, Err: err}
		}
		return FallbackResult{Status: StatusNotAttempted, Err: err}
	}
}

// clientMsgID is a template's client_msg_id for one item of one run: 32
// hex characters, within MaxClientMsgID.
func clientMsgID(runID, key string) string { return messageHash([]byte(runID + "\x00" + key)) }
