package kefutest

import (
	"encoding/base64"
	"math/rand/v2"
	"net/url"
	"strconv"
	"time"
)

// WeChat's token rules.
const (
	tokenLife     = 7200 * time.Second  // expires_in of a fresh token
	classicGrace  = 5 * time.Minute     // a replaced classic token lives this long
	stableRenew   = 5 * time.Minute     // the stable endpoint renews in a token's last 5 minutes
	forceSpacing  = 30 * time.Second    // force_refresh within this of the last returns the current token
	forcesPerDay  = 20                  // force_refresh calls a day (UTC+8), then 45009
	grantType     = "client_credential" // the only grant_type accepted (else 40002)
	chinaOffsetS  = 8 * 60 * 60         // WeChat's days begin at midnight UTC+8 (chinaZone)
	tokenRandSize = 96                  // random bytes in a token: 128 characters of base64url
)

// chinaZone is UTC+8, where WeChat's days and months begin.
var chinaZone = time.FixedZone("UTC+8", chinaOffsetS)

// token is one issued access token.
type token struct {
	stable  bool      // issued by the stable endpoint
	expires time.Time // end of its life (expires_in)
	dies    time.Time // when it was (or will be) killed early; zero if never
}

// check returns 0 if the token is usable at now, 40001 if it was killed,
// 42001 if it expired.
func (t *token) check(now time.Time) int {
	if !t.dies.IsZero() && t.dies.Before(t.expires) && !now.Before(t.dies) {
		return 40001
	}
	if !now.Before(t.expires) {
		return 42001
	}
	return 0
}

// kill makes the token die at at, unless it dies earlier already.
func (t *token) kill(at time.Time) {
	if t.dies.IsZero() || at.Before(t.dies) {
		t.dies = at
	}
}

// tokenBook holds every token issued, classic and stable, and the stable
// endpoint's force_refresh accounting. Classic and stable tokens are
// independent: fetching one kind never affects the other.
type tokenBook struct {
	all       map[string]*token
	classic   string // the current classic token, "" if none
	stable    string // the current stable token, "" if none
	lastForce time.Time
	forceDay  string // the UTC+8 date forces counts
	forces    int
}

// tokenAnswer is the token endpoints' success answer.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// issue makes a new token, valid for tokenLife from now.
func (s *Server) issue(now time.Time, stable bool) string {
	b := make([]byte, tokenRandSize)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	v := strconv.Itoa(80+rand.IntN(20)) + "_" + base64.RawURLEncoding.EncodeToString(b)
	s.tokens.all[v] = &token{stable: stable, expires: now.Add(tokenLife)}
	return v
}

// answerToken answers token v with the whole seconds it has left.
func (s *Server) answerToken(v string, now time.Time) reply {
	left := s.tokens.all[v].expires.Sub(now) / time.Second
	return jsonReply(tokenAnswer{AccessToken: v, ExpiresIn: int64(left)})
}

// checkApp checks a token request's credentials.
func (s *Server) checkApp(grant, appID, secret string) int {
	switch {
	case grant != grantType:
		return 40002
	case appID == "":
		return 41002
	case appID != s.AppID:
		return 40013
	case secret == "":
		return 41004
	case secret != s.AppSecret:
		return 40125
	}
	return 0
}

// checkToken checks the access_token of an API call: 41001 missing, 40001
// unknown or killed, 42001 expired, 0 usable.
func (s *Server) checkToken(q url.Values) int {
	v := q.Get("access_token")
	if v == "" {
		return 41001
	}
	t, ok := s.tokens.all[v]
	if !ok {
		return 40001
	}
	return t.check(s.Now())
}

// classicToken answers GET /cgi-bin/token: a new token per call; the
// previous current token dies classicGrace later.
func (s *Server) classicToken(q url.Values) reply {
	if code := s.checkApp(q.Get("grant_type"), q.Get("appid"), q.Get("secret")); code != 0 {
		return errReply(code)
	}
	now := s.Now()
	if old, ok := s.tokens.all[s.tokens.classic]; ok {
		old.kill(now.Add(classicGrace))
	}
	s.tokens.classic = s.issue(now, false)
	return s.answerToken(s.tokens.classic, now)
}

// stableTokenReq is the body of the stable token endpoint.
type stableTokenReq struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

// stableToken answers POST /cgi-bin/stable_token.
func (s *Server) stableToken(req stableTokenReq) reply {
	if code := s.checkApp(req.GrantType, req.AppID, req.Secret); code != 0 {
		return errReply(code)
	}
	now := s.Now()
	if req.ForceRefresh {
		return s.forceStable(now)
	}
	cur, ok := s.tokens.all[s.tokens.stable]
	if !ok || cur.check(now) != 0 || cur.expires.Sub(now) <= stableRenew {
		// None yet, dead, or in its last minutes: a new one. One in its last
		// minutes stays valid until it expires.
		s.tokens.stable = s.issue(now, true)
	}
	return s.answerToken(s.tokens.stable, now)
}

// forceStable handles force_refresh: within forceSpacing of the last force
// the current token comes back unrefreshed (if it still lives); past
// forcesPerDay in a UTC+8 day, 45009; otherwise every stable token dies now
// and a new one is issued.
func (s *Server) forceStable(now time.Time) reply {
	b := &s.tokens
	if !b.lastForce.IsZero() && now.Sub(b.lastForce) < forceSpacing {
		if cur, ok := b.all[b.stable]; ok && cur.check(now) == 0 {
			return s.answerToken(b.stable, now)
		}
	}
	day := now.In(chinaZone).Format(time.DateOnly)
	if day != b.forceDay {
		b.forceDay, b.forces = day, 0
	}
	if b.forces >= forcesPerDay {
		return errReply(45009)
	}
	b.forces++
	b.lastForce = now
	s.killTokens(now, func(t *token) bool { return t.stable })
	b.stable = s.issue(now, true)
	return s.answerToken(b.stable, now)
}

// RotateTokens kills every token issued so far, classic and stable, as a
// reset of the app secret does: calls with any of them answer 40001, and the
// token endpoints issue new ones. Clients recover by fetching a new token.
func (s *Server) RotateTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killTokens(s.Now(), func(*token) bool { return true })
	s.tokens.classic, s.tokens.stable = "", ""
}

// killTokens kills, at now, every token for which which returns true.
func (s *Server) killTokens(now time.Time, which func(*token) bool) {
	for _, t := range s.tokens.all {
		if which(t) {
			t.kill(now)
		}
	}
}
