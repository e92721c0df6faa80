// A stand-in for Client.Quota until the quota branch (the full call) is merged.

package kefu

import "context"

type Quota struct {
	DailyLimit, Used, Remain int
	RateLimit                RateLimit
}
type RateLimit struct{ CallCount, RefreshSecond int }

func (c *Client) Quota(ctx context.Context, path string) (*Quota, error) {
	out := &Quota{}
	var raw struct {
		Quota struct {
			Remain int `json:"remain"`
		} `json:"quota"`
		RateLimit struct {
			RefreshSecond int `json:"refresh_second"`
		} `json:"rate_limit"`
	}
	b, _ := marshalWire(struct {
		P string `json:"cgi_path"`
	}{path})
	r := &request{method: "POST", path: "/cgi-bin/openapi/quota/get", out: &raw}
	err := c.do(ctx, r.withJSON(b))
	out.Remain, out.RateLimit.RefreshSecond = raw.Quota.Remain, raw.RateLimit.RefreshSecond
	return out, err
}
