package kefu

import (
	"context"
	"net/http"
	"strings"
)

const (
	quotaGetPath   = "/cgi-bin/openapi/quota/get"
	clearQuotaPath = "/cgi-bin/clear_quota"
)

// Quota is how much of an API's daily call quota the account has used
// (Client.Quota), and the API's rate limit. WeChat's days begin at midnight
// UTC+8.
type Quota struct {
	// DailyLimit is how many calls the account may make today (500,000 for
	// the send API, 50,000 on test accounts, more for large accounts).
	DailyLimit int
	// Used is how many calls it made today; Remain how many it has left.
	Used, Remain int
	// RateLimit is the API's short-term limit, when WeChat reports one
	// (the zero RateLimit when it does not).
	RateLimit RateLimit
}

// RateLimit is an API's limit over a short period (a call past it answers
// 45011, matching ErrRateLimited).
type RateLimit struct {
	// CallCount is how many calls the period allows.
	CallCount int
	// RefreshSecond is WeChat's refresh_second: when, in seconds, the
	// period's count starts afresh.
	RefreshSecond int
}

// Quota returns the account's quota of the API at path, e.g.
// "/cgi-bin/message/custom/send" (POST /cgi-bin/openapi/quota/get). path
// must start with "/" (locally checked; WeChat answers 76003), and name an
// API WeChat knows. A read, with no effect at WeChat: an unknown outcome is
// retried, and an error never matches ErrDeliveryUnknown.
//
// https://developers.weixin.qq.com/doc/offiaccount/openApi/get_api_quota.html
func (c *Client) Quota(ctx context.Context, path string) (*Quota, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	var v validator
	if v.required("cgi_path", path) && !strings.HasPrefix(path, "/") {
		v.add("cgi_path", `must start with "/"`)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	b, err := marshalWire(struct {
		Path string `json:"cgi_path"`
	}{path})
	if err != nil {
		return nil, err
	}
	var a struct {
		Quota struct {
			DailyLimit int `json:"daily_limit"`
			Used       int `json:"used"`
			Remain     int `json:"remain"`
		} `json:"quota"`
		RateLimit struct {
			CallCount     int `json:"call_count"`
			RefreshSecond int `json:"refresh_second"`
		} `json:"rate_limit"`
	}
	r := &request{method: http.MethodPost, path: quotaGetPath, retryUnknown: true, noEffect: true, out: &a}
	if err := c.do(ctx, r.withJSON(b)); err != nil {
		return nil, err
	}
	return &Quota{DailyLimit: a.Quota.DailyLimit, Used: a.Quota.Used, Remain: a.Quota.Remain,
		RateLimit: RateLimit(a.RateLimit)}, nil
}

// MaxClearQuota is how many times a month WeChat lets an account reset its
// quotas with ClearQuota (then 48006).
const MaxClearQuota = 10

// ClearQuota resets every daily call count of the account appID (the
// account whose token the client uses) to zero (POST /cgi-bin/clear_quota),
// so that APIs that answered 45009 (ErrDailyQuota) work again today.
// WeChat allows it MaxClearQuota times a month: past that it answers 48006;
// a wrong appID answers 40013. A write: an unknown outcome is retried only
// under RetryPolicy.RetryUnknown (a retry may spend another of the month's
// resets).
//
// https://developers.weixin.qq.com/doc/offiaccount/openApi/clear_quota.html
func (c *Client) ClearQuota(ctx context.Context, appID string) error {
	var v validator
	v.required("appid", appID)
	return c.post(ctx, clearQuotaPath, &v, struct {
		AppID string `json:"appid"`
	}{appID})
}
